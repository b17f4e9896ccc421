"""Security headers on every response, and no caching of anything the app renders.

Pages rendered here carry no inline script or style, so their policy allows scripts and
styles from the app's own origin only. The built guide (static MkDocs pages) carries a
few inline scripts of the theme: its pages get a policy that names each of them by hash
(computed when the file is served), so they run and nothing else inline does.
"""

from __future__ import annotations

from flask import Flask, Response, request

APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        is_api = request.path == "/api" or request.path.startswith("/api/")
        h.setdefault("Content-Security-Policy", API_POLICY if is_api else APP_POLICY)
        if "Cache-Control" not in h:
            # Everything the app builds may show personal data (a booking, a staff page)
            # or depend on who asks: never stored by a browser or a proxy. The guide's
            # files and the app's static assets set their own.
            h["Cache-Control"] = "no-store"
        return resp
