"""Public certificate verification: /verify/<token> (the QR code's target) and the JWK set
of every signing key at /verify/keys, for verifiers that work offline."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select

from scheduler.courier import tokens
from scheduler.courier.models import Certificate, Validity
from scheduler.web import db_session, ot

bp = Blueprint("verify", __name__, url_prefix="/verify")

STATE_ZH = {
    Validity.VALID: ("有效", "本证照由本县签发，现行有效。"),
    Validity.REVOKED: ("已作废", "本证照已被签发机关作废，不能再作为有效证明使用。"),
    Validity.REPLACED: ("已被替换", "本证照已换发新证，请以新证为准。"),
}


@bp.get("/keys")
def keys() -> Any:
    response = jsonify(tokens.jwks(db_session()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/<path:token>")
def page(token: str) -> Any:
    session = db_session()
    try:
        claims = tokens.verify(token, tokens.public_keys(session))
    except tokens.TokenError as err:
        return render_template("courier/verify.html", ok=False, reason=err.message_zh), 400
    cert = session.scalar(select(Certificate).where(Certificate.verify_id == claims.verify_id))
    catalog = ot().service.catalog
    item = catalog.items.get(claims.item_code)
    office = catalog.offices.get(claims.office)
    state = STATE_ZH[Validity(cert.validity)] if cert is not None else None
    return render_template(
        "courier/verify.html",
        ok=True,
        cert_type=(item.result_name or item.name) if item is not None else claims.item_code,
        holder=claims.holder_masked,
        issued=claims.issued_on,
        office=office.name if office is not None else claims.office,
        state=state,
        kid=claims.kid,
    )
