"""Protection of personal data at rest: keyed hashes and field encryption.

The data keys are their own secret, apart from the key that signs session cookies: a
stolen cookie key is replaced without touching stored data, and stored data keys rotate
without logging anyone out. A `Keyring` holds

* the hash key (HMAC-SHA256 of ID numbers, for duplicate detection; it does not rotate,
  or every earlier booking would stop matching),
* the encryption keys by key id, one of them current: new values are encrypted with it,
  and every token names its key id, so older keys keep decrypting until
  `onetrip keys reencrypt` has moved everything to the current one,
* optionally the secret of earlier versions (which derived both keys from the cookie
  key), to read the tokens they wrote.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Tokens written now: "k2:<key id>:" then base64url(12-byte nonce + ciphertext + tag).
_PREFIX = "k2:"
# Tokens of earlier versions: "g1:" + the same, with the key derived from the old secret;
# older still, Fernet tokens from that secret.
_LEGACY_GCM = "g1:"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
CANNOT_DECRYPT_ZH = "无法解密"
log = logging.getLogger(__name__)


class Undecryptable(ValueError):
    """A stored value that none of the keys decrypts (a missing key, a damaged token)."""

    def __init__(self, key_id: str | None) -> None:
        super().__init__(f"field cannot be decrypted (key id {key_id or 'unknown'})")
        self.key_id = key_id


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


@dataclass(frozen=True, slots=True)
class Keyring:
    """The data keys: a hash key, encryption keys by id, the current id."""

    hash_key: bytes
    keys: dict[str, bytes]
    current: str
    legacy_secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.hash_key) < 16:
            raise ValueError("the hash key must be at least 16 bytes")
        if self.current not in self.keys:
            raise ValueError(f"current key id {self.current!r} is not in the keyring")
        for kid, key in self.keys.items():
            if not _KEY_ID.match(kid):
                raise ValueError(f"bad key id {kid!r}: 1-32 letters, digits, '-' or '_'")
            if len(key) != 32:
                raise ValueError(f"key {kid!r} must be 32 bytes (AES-256)")

    @classmethod
    def generate(cls, key_id: str | None = None) -> Keyring:
        """Fresh random keys."""
        kid = key_id or _dated_id()
        return cls(secrets.token_bytes(32), {kid: secrets.token_bytes(32)}, kid)

    @classmethod
    def from_legacy_secret(cls, secret: bytes) -> Keyring:
        """The keys earlier versions derived from one secret: the same hash key (so
        earlier bookings still match) and their encryption key as key id "legacy"."""
        if len(secret) < 16:
            raise ValueError("secret key must be at least 16 bytes")
        hash_key = hmac.new(secret, b"onetrip/keyed-hash/v1", hashlib.sha256).digest()
        gcm = hmac.new(secret, b"onetrip/field-encryption/gcm/v1", hashlib.sha256).digest()
        return cls(hash_key, {"legacy": gcm}, "legacy", legacy_secret=secret)

    def rotated(self, key_id: str | None = None) -> Keyring:
        """The same keyring with a new current encryption key (the others kept)."""
        kid = key_id or _dated_id()
        if kid in self.keys:
            raise ValueError(f"key id {kid!r} exists already")
        return replace(self, keys={**self.keys, kid: secrets.token_bytes(32)}, current=kid)

    def dumps(self) -> str:
        data: dict[str, object] = {
            "hash_key": _b64(self.hash_key),
            "current": self.current,
            "keys": {kid: _b64(k) for kid, k in self.keys.items()},
        }
        if self.legacy_secret is not None:
            data["legacy_secret"] = _b64(self.legacy_secret)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def loads(cls, text: str) -> Keyring:
        data = json.loads(text)
        legacy = data.get("legacy_secret")
        return cls(
            hash_key=_unb64(data["hash_key"]),
            keys={kid: _unb64(k) for kid, k in data["keys"].items()},
            current=data["current"],
            legacy_secret=_unb64(legacy) if legacy else None,
        )

    def save(self, path: Path) -> None:
        """Write the keyring readable by its owner only (replacing the file atomically)."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.dumps())
        os.replace(tmp, path)


def _dated_id() -> str:
    """A key id that says when the key was made: k20261202-3fa9c1."""
    return datetime.now(UTC).strftime("k%Y%m%d-") + secrets.token_hex(3)


class Protector:
    """HMAC-SHA256 for look-ups and duplicate detection, AES-256-GCM for fields."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}
        self._current = keyring.current
        self._legacy_gcm: AESGCM | None = None
        self._legacy_fernet: Fernet | None = None
        if keyring.legacy_secret is not None:
            old = Keyring.from_legacy_secret(keyring.legacy_secret)
            self._legacy_gcm = AESGCM(old.keys["legacy"])
            fernet_key = hmac.new(
                keyring.legacy_secret, b"onetrip/field-encryption/v1", hashlib.sha256
            ).digest()
            self._legacy_fernet = Fernet(base64.urlsafe_b64encode(fernet_key))

    @property
    def current_key_id(self) -> str:
        return self._current

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """Hex HMAC of a value; `purpose` keeps hashes of different kinds unrelated."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self.keyring.hash_key, msg, hashlib.sha256).hexdigest()

    def encrypt(self, value: str, *, field: str) -> str:
        """A token for `value` stored in column `field`, under the current key; the column
        name is authenticated with it, so a token moved to another column does not
        decrypt."""
        nonce = os.urandom(_NONCE_BYTES)  # random 96-bit nonces: safe far beyond our volume
        sealed = self._ciphers[self._current].encrypt(nonce, value.encode(), field.encode())
        return f"{_PREFIX}{self._current}:{_b64(nonce + sealed)}"

    @staticmethod
    def key_id_of(token: str) -> str | None:
        """The key id a token names ("legacy" for tokens of earlier versions)."""
        if token.startswith(_PREFIX):
            kid, sep, _ = token[len(_PREFIX) :].partition(":")
            return kid if sep else None
        return "legacy" if token else None

    def reveal(self, token: str | None, *, field: str, owner: str) -> str:
        """The value for a page: "" for none, 「无法解密」 when no key opens it, with a log
        line naming `owner` (e.g. "booking id=3") and the key id, never the value."""
        if not token:
            return ""
        try:
            return self.decrypt(token, field=field)
        except Undecryptable as err:
            log.warning(
                "%s column %s cannot be decrypted (key id %s)",
                owner,
                field,
                err.key_id or "unknown",
            )
            return CANNOT_DECRYPT_ZH

    def decrypt(self, token: str, *, field: str) -> str:
        """The value; `Undecryptable` when no key of the ring opens the token."""
        kid = self.key_id_of(token)
        try:
            if token.startswith(_PREFIX):
                cipher = self._ciphers.get(kid or "")
                if cipher is None:
                    raise Undecryptable(kid)
                raw = _unb64(token.split(":", 2)[2])
                return cipher.decrypt(
                    raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], field.encode()
                ).decode()
            if token.startswith(_LEGACY_GCM) and self._legacy_gcm is not None:
                raw = _unb64(token[len(_LEGACY_GCM) :])
                sealed = raw[_NONCE_BYTES:]
                return self._legacy_gcm.decrypt(raw[:_NONCE_BYTES], sealed, field.encode()).decode()
            if self._legacy_fernet is not None and not token.startswith(_LEGACY_GCM):
                return self._legacy_fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidTag, InvalidToken, ValueError, IndexError) as err:
            if isinstance(err, Undecryptable):
                raise
            raise Undecryptable(kid) from None
        raise Undecryptable(kid)

    def needs_reencryption(self, token: str) -> bool:
        return bool(token) and self.key_id_of(token) != self._current
