"""Verification tokens for certificate QR codes: compact JWS signed with Ed25519.

Header ``{"alg": "Ed25519", "kid": ...}`` (RFC 9864 names the algorithm ``Ed25519``; the
older ``EdDSA`` is refused). The payload holds no more than the paper shows: the
certificate's public verification id, item code, masked holder name, issue date and
office id. Keys rotate: the newest unretired key signs, every stored key verifies, and
all public keys are published as a JWK set so a verifier works offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.courier.audit import utc_naive
from scheduler.courier.models import Certificate, SigningKey
from scheduler.protect import Protector, Undecryptable

ALG = "Ed25519"
MAX_TOKEN_CHARS = 600
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw


class TokenError(ValueError):
    """A token that cannot be trusted; `code` says why, `message_zh` for the page."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "malformed": "二维码内容不完整或格式不对（可能被截断或改动）。",
        "algorithm": "二维码使用了本系统不接受的签名方式。",
        "unknown_key": "二维码的签名密钥不是本县发布的密钥。",
        "signature": "二维码内容与签名不符：证照信息可能被改动或伪造。",
    }

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
        self.message_zh = self.MESSAGES[code]


class SigningKeyUnreadable(Exception):
    """The current signing key is stored under a data key the keyring no longer has:
    nothing can be signed until `onetrip courier-rotate-key` makes a new one."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"signing key {kid} cannot be decrypted")
        self.kid = kid


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    key: Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    verify_id: str
    item_code: str
    holder_masked: str
    issued_on: str  # ISO date
    office: str
    kid: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        raise TokenError("malformed")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    # Canonical form only: otherwise the unused low bits of the last character could be
    # changed without changing the bytes, and an altered token would still verify.
    if b64url(raw) != text:
        raise TokenError("malformed")
    return raw


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(private: Ed25519PrivateKey, kid: str, claims: dict[str, str]) -> str:
    """A compact JWS (ASCII: three base64url parts joined by dots)."""
    head = b64url(_json({"alg": ALG, "kid": kid}))
    body = b64url(_json(claims))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(private.sign(signing_input))}"


def verify(token: str, keys: Iterable[PublicKey]) -> Claims:
    """The claims of a token one of `keys` signed; TokenError otherwise.

    Every key carrying the token's kid is tried (a kid is a hint, not a proof)."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise TokenError("malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed")
    head_raw, body_raw, sig = (unb64url(p) for p in parts)
    try:
        header = json.loads(head_raw)
        body = json.loads(body_raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenError("malformed") from None
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise TokenError("malformed")
    if header.get("alg") != ALG or set(header) - {"alg", "kid", "typ"}:
        raise TokenError("algorithm")
    kid = header.get("kid")
    candidates = [k for k in keys if k.kid == kid]
    if not isinstance(kid, str) or not candidates:
        raise TokenError("unknown_key")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    for candidate in candidates:
        try:
            candidate.key.verify(sig, signing_input)
            break
        except InvalidSignature:
            continue
    else:
        raise TokenError("signature")
    try:
        return Claims(
            verify_id=str(body["v"]),
            item_code=str(body["t"]),
            holder_masked=str(body["h"]),
            issued_on=str(body["d"]),
            office=str(body["o"]),
            kid=kid,
        )
    except KeyError:
        raise TokenError("malformed") from None


def claims_of(cert: Certificate) -> dict[str, str]:
    return {
        "v": cert.verify_id,
        "t": cert.item_code,
        "h": cert.holder_name_masked,
        "d": cert.issued_on.isoformat(),
        "o": cert.office_code,
    }


# -- keys in the database --------------------------------------------------------------


def new_kid(now: datetime) -> str:
    return f"qy-{now:%Y%m%d}-{secrets.token_hex(3)}"


def rotate_key(session: Session, protector: Protector, *, now: datetime) -> SigningKey:
    """A new signing key; earlier keys stop signing but keep verifying."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(_RAW, _RAW_PRIV, serialization.NoEncryption())
    stamp = utc_naive(now)
    for key in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        key.retired_at = stamp
    key = SigningKey(
        kid=new_kid(now),
        private_enc=protector.encrypt(b64url(raw), field="courier_signing_key"),
        public_x=b64url(private.public_key().public_bytes(_RAW, _RAW_PUB)),
        created_at=stamp,
    )
    session.add(key)
    session.flush()
    return key


def signing_key(
    session: Session, protector: Protector, *, now: datetime
) -> tuple[str, Ed25519PrivateKey]:
    """The current (kid, private key), made on first use."""
    key = session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
    )
    if key is None:
        key = rotate_key(session, protector, now=now)
    try:
        raw = unb64url(protector.decrypt(key.private_enc, field="courier_signing_key"))
    except Undecryptable as err:
        raise SigningKeyUnreadable(key.kid) from err
    return key.kid, Ed25519PrivateKey.from_private_bytes(raw)


def public_keys(session: Session) -> list[PublicKey]:
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid))
    return [
        PublicKey(k.kid, Ed25519PublicKey.from_public_bytes(unb64url(k.public_x))) for k in rows
    ]


def jwks(session: Session) -> dict[str, Any]:
    """The JWK set (RFC 8037 OKP keys) of every key that ever signed, newest first."""
    rows = list(
        session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.kid))
    )
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": ALG,
                "use": "sig",
                "kid": k.kid,
                "x": k.public_x,
                "status": "retired" if k.retired_at is not None else "current",
            }
            for k in rows
        ]
    }


def keys_from_jwks(document: dict[str, Any]) -> Sequence[PublicKey]:
    """Public keys from a published JWK set: what an offline verifier loads."""
    out = []
    for jwk in document.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            raw = unb64url(jwk["x"])
            out.append(PublicKey(jwk["kid"], Ed25519PublicKey.from_public_bytes(raw)))
    return out


def token_for(session: Session, protector: Protector, cert: Certificate, *, now: datetime) -> str:
    kid, private = signing_key(session, protector, now=now)
    return sign(private, kid, claims_of(cert))
