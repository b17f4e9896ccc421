"""Field encryption and keyed hashes: round trips, tampering, wrong keys, older tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet

from scheduler.protect import Protector

SECRET = b"s" * 32


def test_round_trip_and_fresh_nonce() -> None:
    """The same value encrypts differently each time and decrypts back."""
    p = Protector(SECRET)
    a, b = p.encrypt("吴秀英", field="name"), p.encrypt("吴秀英", field="name")
    assert a != b and "吴秀英" not in a
    assert p.decrypt(a, field="name") == p.decrypt(b, field="name") == "吴秀英"


def test_a_token_only_decrypts_in_its_own_column() -> None:
    """The column name is authenticated: a phone token moved into the name column fails."""
    p = Protector(SECRET)
    token = p.encrypt("13905781234", field="phone_enc")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        p.decrypt(token, field="applicant_name_enc")


def test_tampered_or_foreign_tokens_are_refused() -> None:
    """A flipped byte or another secret's token is an error, never wrong plaintext."""
    p = Protector(SECRET)
    token = p.encrypt("13905781234", field="phone_enc")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[-1] ^= 1
    with pytest.raises(ValueError, match="cannot be decrypted"):
        p.decrypt(token[:3] + base64.urlsafe_b64encode(bytes(raw)).decode(), field="phone_enc")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        Protector(b"t" * 32).decrypt(token, field="phone_enc")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        p.decrypt("g1:not-base64!", field="phone_enc")


def test_tokens_of_earlier_versions_still_decrypt() -> None:
    """Fields written with Fernet (before AES-GCM) stay readable with the same secret."""
    key = hmac.new(SECRET, b"onetrip/field-encryption/v1", hashlib.sha256).digest()
    old = Fernet(base64.urlsafe_b64encode(key)).encrypt("隆宫村东头".encode()).decode()
    assert Protector(SECRET).decrypt(old, field="address_detail_enc") == "隆宫村东头"


def test_keyed_hash_depends_on_purpose_and_secret() -> None:
    p = Protector(SECRET)
    h = p.keyed_hash("33112619400305123X", purpose="id_number")
    assert h == p.keyed_hash("33112619400305123X", purpose="id_number")
    assert h != p.keyed_hash("33112619400305123X", purpose="idempotency")
    assert h != Protector(b"t" * 32).keyed_hash("33112619400305123X", purpose="id_number")
