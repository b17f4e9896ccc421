"""Verification tokens: Ed25519 compact JWS with a key id; tampering, rotation, offline."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from courier_support import NOW, finish, protector
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scheduler.courier import tokens
from scheduler.courier.tokens import PublicKey, TokenError


def _part(token: str, n: int) -> dict[str, Any]:
    raw = token.split(".")[n]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return data


def _replace_part(token: str, n: int, value: dict[str, Any]) -> str:
    parts = token.split(".")
    parts[n] = tokens.b64url(json.dumps(value, ensure_ascii=False).encode())
    return ".".join(parts)


def test_token_is_ascii_jws_with_ed25519_and_kid_and_no_more_than_the_paper(
    courier_db: Any,
) -> None:
    """The token is ASCII, says alg Ed25519 with a kid, and carries only the masked name."""
    with courier_db() as s:
        cert = finish(s, 1)
        token = tokens.token_for(s, protector(), cert, now=NOW)
        assert token.isascii() and len(token) < 300
        header = _part(token, 0)
        assert header["alg"] == "Ed25519" and header["kid"].startswith("qy-")
        body = _part(token, 1)
        assert body["h"] == "吴**" and "13905781234" not in json.dumps(body)
        claims = tokens.verify(token, tokens.public_keys(s))
        assert (claims.verify_id, claims.issued_on, claims.office) == (
            cert.verify_id,
            "2026-06-01",
            "county-hall",
        )


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda t: t[: len(t) // 2], "malformed"),
        (lambda t: t[:-1], "malformed"),
        (lambda t: t + "A", "signature"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: _replace_part(t, 1, {**_part(t, 1), "h": "李*"}), "signature"),
        (lambda t: _replace_part(t, 1, {**_part(t, 1), "d": "2020-01-01"}), "signature"),
        (lambda t: _replace_part(t, 0, {**_part(t, 0), "alg": "EdDSA"}), "algorithm"),
        (lambda t: _replace_part(t, 0, {**_part(t, 0), "alg": "none"}), "algorithm"),
        (lambda t: _replace_part(t, 0, {**_part(t, 0), "kid": "other"}), "unknown_key"),
        (lambda t: "中文" + t, "malformed"),
    ],
)
def test_altered_truncated_or_foreign_tokens_are_rejected(
    courier_db: Any, tamper: Any, code: str
) -> None:
    """Any change to a token, or a cut-off one, fails with a reason code."""
    with courier_db() as s:
        token = tokens.token_for(s, protector(), finish(s, 1), now=NOW)
        with pytest.raises(TokenError) as err:
            tokens.verify(tamper(token), tokens.public_keys(s))
        assert err.value.code == code and err.value.message_zh


def test_changing_the_unused_bits_of_the_signature_is_rejected(courier_db: Any) -> None:
    """Only canonical base64url: a signature with different padding bits does not pass."""
    with courier_db() as s:
        token = tokens.token_for(s, protector(), finish(s, 1), now=NOW)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(token[-1])
        twin = token[:-1] + alphabet[last ^ 1]  # 64-byte signature: 2 unused low bits
        with pytest.raises(TokenError):
            tokens.verify(twin, tokens.public_keys(s))


def test_forged_token_signed_with_another_key_under_our_kid_is_rejected(
    courier_db: Any,
) -> None:
    """A forger who copies our kid but signs with their own key is caught."""
    with courier_db() as s:
        cert = finish(s, 1)
        ours = tokens.token_for(s, protector(), cert, now=NOW)
        kid = _part(ours, 0)["kid"]
        forged = tokens.sign(Ed25519PrivateKey.generate(), kid, tokens.claims_of(cert))
        with pytest.raises(TokenError) as err:
            tokens.verify(forged, tokens.public_keys(s))
        assert err.value.code == "signature"


def test_rotation_new_key_signs_old_keys_still_verify_and_all_are_published(
    courier_db: Any,
) -> None:
    """After a rotation new tokens carry the new kid; old tokens still verify, offline too."""
    with courier_db() as s:
        cert = finish(s, 1)
        old = tokens.token_for(s, protector(), cert, now=NOW)
        new_key = tokens.rotate_key(s, protector(), now=NOW + timedelta(days=30))
        new = tokens.token_for(s, protector(), cert, now=NOW + timedelta(days=30))
        assert _part(new, 0)["kid"] == new_key.kid != _part(old, 0)["kid"]
        document = json.loads(json.dumps(tokens.jwks(s)))  # as published
        assert [k["status"] for k in document["keys"]] == ["current", "retired"]
        assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in document["keys"])
        offline = tokens.keys_from_jwks(document)
        assert tokens.verify(old, offline).verify_id == tokens.verify(new, offline).verify_id


def test_every_key_carrying_the_kid_is_tried() -> None:
    """Two published keys with the same kid: the token verifies with whichever signed it."""
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    claims = {"v": "x", "t": "item", "h": "张*", "d": "2026-06-01", "o": "county-hall"}
    token = tokens.sign(b, "same", claims)
    keys = [PublicKey("same", a.public_key()), PublicKey("same", b.public_key())]
    assert tokens.verify(token, keys).holder_masked == "张*"


def test_reencrypt_moves_courier_data_to_the_current_key(courier_db: Any) -> None:
    """After a key rotation, `keys reencrypt` puts certificates' personal data and the
    signing keys under the new data key, values unchanged; a value no key opens is
    counted and left as it is."""
    from sqlalchemy import select

    from scheduler.courier import keys
    from scheduler.courier.models import Certificate, SigningKey
    from scheduler.protect import Keyring, Protector

    old = protector()
    new = Protector(old.keyring.rotated("t2"))
    with courier_db() as s:
        cert = finish(s, 1)
        tokens.rotate_key(s, old, now=NOW)
        other = finish(s, 2)
        other.phone_enc = Protector(Keyring.generate("gone")).encrypt("x", field="phone_enc")
        s.commit()
        changed, failed = keys.reencrypt(s, new)
        s.commit()
        assert (changed, failed) == (4 + 3 + 1, 1)
        assert new.decrypt(cert.holder_name_enc, field="holder_name_enc") == "吴秀英"
        assert Protector.key_id_of(cert.address_detail_enc) == "t2"
        key = s.scalars(select(SigningKey)).one()
        assert Protector.key_id_of(key.private_enc) == "t2"
        tokens.token_for(s, new, s.get(Certificate, cert.id), now=NOW)
        assert keys.reencrypt(s, new) == (0, 1)
