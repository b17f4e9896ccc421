"""Protection of personal data at rest: keyed hashes and symmetric encryption.

One secret from configuration; separate sub-keys for hashing and encryption so a
leaked hash key does not decrypt and vice versa.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class Protector:
    """HMAC-SHA256 for lookups/duplicate detection, Fernet (AES-128-CBC + HMAC) for fields."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("secret key must be at least 16 bytes")
        self._hash_key = hmac.new(secret, b"onetrip/keyed-hash/v1", hashlib.sha256).digest()
        enc_key = hmac.new(secret, b"onetrip/field-encryption/v1", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(enc_key))

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """Hex HMAC of a value; `purpose` keeps hashes of different kinds unrelated."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._hash_key, msg, hashlib.sha256).hexdigest()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            raise ValueError("field cannot be decrypted with this key") from None
