"""The built guide (MkDocs output) served on the same origin as the API."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, current_app, redirect, send_file
from werkzeug.security import safe_join


def init_app(app: Flask) -> None:
    @app.get("/", defaults={"path": ""}, endpoint="site")
    @app.get("/<path:path>", endpoint="site_path")
    def site_file(path: str) -> Response:
        if path == "api" or path.startswith(("api/", "staff/")):
            abort(404)
        # Relative to the working directory (send_file alone would use the package folder).
        root = Path(current_app.config["SITE_DIR"]).resolve()
        joined = safe_join(str(root), path) if path else str(root)
        if joined is None:
            abort(404)
        target = Path(joined)
        if target.is_dir():
            if path and not path.endswith("/"):
                return redirect("/" + path + "/")  # type: ignore[return-value]
            target = target / "index.html"
        if not target.is_file():
            missing = root / "404.html"
            if missing.is_file():
                resp = send_file(missing, mimetype="text/html")
                resp.status_code = 404
                return resp
            abort(404)
        return send_file(target, max_age=300)
