"""Field encryption and keyed hashes: round trips, tampering, key ids and rotation,
tokens of earlier versions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scheduler.protect import Keyring, Protector, Undecryptable

RING = Keyring.generate("a1")


def test_round_trip_and_fresh_nonce() -> None:
    """The same value encrypts differently each time and decrypts back."""
    p = Protector(RING)
    a, b = p.encrypt("吴秀英", field="name"), p.encrypt("吴秀英", field="name")
    assert a != b and "吴秀英" not in a
    assert p.decrypt(a, field="name") == p.decrypt(b, field="name") == "吴秀英"


def test_a_token_only_decrypts_in_its_own_column() -> None:
    """The column name is authenticated: a phone token moved into the name column fails."""
    p = Protector(RING)
    token = p.encrypt("13905781234", field="phone_enc")
    with pytest.raises(Undecryptable, match="cannot be decrypted"):
        p.decrypt(token, field="applicant_name_enc")


def test_tampered_or_foreign_tokens_are_refused() -> None:
    """A flipped byte or another keyring's token is an error, never wrong plaintext."""
    p = Protector(RING)
    token = p.encrypt("13905781234", field="phone_enc")
    head, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(Undecryptable):
        p.decrypt(head + ":" + base64.urlsafe_b64encode(bytes(raw)).decode(), field="phone_enc")
    with pytest.raises(Undecryptable):
        Protector(Keyring.generate("a1")).decrypt(token, field="phone_enc")
    with pytest.raises(Undecryptable):
        p.decrypt("k2:a1:not-base64!", field="phone_enc")


def test_every_token_names_its_key_and_old_keys_still_decrypt() -> None:
    """A token carries its key id; after a rotation new values use the new key and the
    old ones still decrypt, and are flagged for re-encryption."""
    old = Protector(RING)
    token = old.encrypt("隆宫村12号", field="address_detail_enc")
    assert Protector.key_id_of(token) == "a1"
    rotated = Protector(RING.rotated("a2"))
    fresh = rotated.encrypt("隆宫村12号", field="address_detail_enc")
    assert Protector.key_id_of(fresh) == "a2"
    assert rotated.decrypt(token, field="address_detail_enc") == "隆宫村12号"
    assert rotated.needs_reencryption(token) and not rotated.needs_reencryption(fresh)
    with pytest.raises(Undecryptable) as err:
        old.decrypt(fresh, field="address_detail_enc")
    assert err.value.key_id == "a2"


def test_data_keys_do_not_depend_on_the_cookie_secret() -> None:
    """The keyring survives a JSON round trip and holds random keys, not ones derived
    from a secret: nothing about the cookie key opens stored data."""
    ring = Keyring.loads(RING.dumps())
    assert ring == RING
    assert Keyring.generate("a1").keys["a1"] != RING.keys["a1"]


def test_tokens_of_earlier_versions_decrypt_with_the_legacy_secret() -> None:
    """Fields that earlier versions wrote (AES-GCM "g1:" and Fernet tokens from the one
    secret) stay readable when the keyring carries that secret, and keep their hashes."""
    secret = b"s" * 32
    gcm = hmac.new(secret, b"onetrip/field-encryption/gcm/v1", hashlib.sha256).digest()
    nonce = os.urandom(12)
    g1 = (
        "g1:"
        + base64.urlsafe_b64encode(
            nonce + AESGCM(gcm).encrypt(nonce, "吴秀英".encode(), b"applicant_name_enc")
        ).decode()
    )
    fkey = hmac.new(secret, b"onetrip/field-encryption/v1", hashlib.sha256).digest()
    fernet = Fernet(base64.urlsafe_b64encode(fkey)).encrypt("隆宫村东头".encode()).decode()
    carried = Protector(Keyring.from_legacy_secret(secret).rotated("n1"))
    assert carried.decrypt(g1, field="applicant_name_enc") == "吴秀英"
    assert carried.decrypt(fernet, field="address_detail_enc") == "隆宫村东头"
    old_hash = hmac.new(
        hmac.new(secret, b"onetrip/keyed-hash/v1", hashlib.sha256).digest(),
        b"id_number\x0033112619400305123X",
        hashlib.sha256,
    ).hexdigest()
    assert carried.keyed_hash("33112619400305123X", purpose="id_number") == old_hash
    with pytest.raises(Undecryptable):
        Protector(RING).decrypt(g1, field="applicant_name_enc")


def test_keyed_hash_depends_on_purpose_and_key() -> None:
    """Hashes differ by purpose and by keyring."""
    p = Protector(RING)
    h = p.keyed_hash("33112619400305123X", purpose="id_number")
    assert h == p.keyed_hash("33112619400305123X", purpose="id_number")
    assert h != p.keyed_hash("33112619400305123X", purpose="idempotency")
    other = Protector(Keyring.generate("a1"))
    assert h != other.keyed_hash("33112619400305123X", purpose="id_number")
