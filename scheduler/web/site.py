"""The built guide (MkDocs output) served on the same origin as the API.

The catch-all route does not claim /api/… or /staff/… paths, so that a wrong method on
an API path is a 405 naming the API's methods, and an unknown API path a 404 of the API.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from flask import Flask, Response, abort, current_app, redirect, send_file
from werkzeug.routing import PathConverter
from werkzeug.security import safe_join

_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)


class SitePath(PathConverter):
    """A path of the guide: anything but the app's own /api and /staff trees."""

    regex = r"(?!(?:api|staff|_onetrip)(?:/|$))[^/].*?"


@functools.lru_cache(maxsize=512)
def _policy(path: str, _mtime_ns: int) -> str:
    """The page's Content-Security-Policy: its own inline scripts by hash."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
            for body in _INLINE_SCRIPT.findall(Path(path).read_bytes())
        }
    )
    scripts = " ".join(["'self'", *hashes])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def init_app(app: Flask) -> None:
    app.url_map.converters["site_path"] = SitePath

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask for /favicon.ico on every page: the app's icon, not the guide's 404.
        assert app.static_folder is not None
        return send_file(
            Path(app.static_folder) / "favicon.svg", mimetype="image/svg+xml", max_age=86400
        )

    @app.get("/", defaults={"path": ""}, endpoint="site")
    @app.get("/<site_path:path>", endpoint="site_path")
    def site_file(path: str) -> Response:
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
        status = 200
        if not target.is_file():
            target = root / "404.html"
            if not target.is_file():
                abort(404)
            status = 404
        resp = send_file(target, max_age=300) if status == 200 else send_file(target)
        resp.status_code = status
        if target.suffix == ".html":
            resp.headers["Content-Security-Policy"] = _policy(
                str(target), target.stat().st_mtime_ns
            )
        return resp
