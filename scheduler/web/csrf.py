"""CSRF protection for HTML forms: a per-session token in a hidden field, checked on POST."""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, abort, request, session

FIELD = "csrf_token"


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return str(session[FIELD])


def protect(bp: Blueprint) -> None:
    @bp.before_request
    def _check() -> None:
        if request.method != "POST":
            return
        sent = request.form.get(FIELD, "")
        expected = session.get(FIELD, "")
        if not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
            abort(400, description="csrf")

    @bp.app_context_processor
    def _inject() -> dict[str, object]:
        return {"csrf_token": token}
