"""Moving the courier's stored personal data and signing keys to the current data key
(`onetrip keys reencrypt`, after `onetrip keys rotate`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.courier.models import Certificate, SigningKey
from scheduler.protect import Protector, Undecryptable

log = logging.getLogger(__name__)
CERTIFICATE_COLUMNS = ("holder_name_enc", "recipient_name_enc", "phone_enc", "address_detail_enc")
# Signing keys are encrypted with the field name "courier_signing_key" (tokens.rotate_key).
SIGNING_FIELD = "courier_signing_key"


def _move(protector: Protector, row: Any, column: str, field: str, what: str) -> int | None:
    """1 when re-encrypted, 0 when already current, None when no key opens it."""
    token: str = getattr(row, column)
    if not token or not protector.needs_reencryption(token):
        return 0
    try:
        value = protector.decrypt(token, field=field)
    except Undecryptable as err:
        log.warning(
            "%s cannot be decrypted in column %s (key id %s)", what, column, err.key_id or "unknown"
        )
        return None
    setattr(row, column, protector.encrypt(value, field=field))
    return 1


def reencrypt(session: Session, protector: Protector, *, batch: int = 500) -> tuple[int, int]:
    """Re-encrypt every courier value not under the current key; (values changed, values
    no key decrypts). The latter stay as they are and are logged by row id, never value."""
    changed = failed = 0
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(Certificate)
                .where(Certificate.id > last_id)
                .order_by(Certificate.id)
                .limit(batch)
            )
        )
        if not rows:
            break
        for cert in rows:
            for column in CERTIFICATE_COLUMNS:
                done = _move(protector, cert, column, column, f"courier certificate id={cert.id}")
                if done is None:
                    failed += 1
                else:
                    changed += done
        last_id = rows[-1].id
        session.flush()
    for key in session.scalars(select(SigningKey)):
        done = _move(protector, key, "private_enc", SIGNING_FIELD, f"signing key {key.kid}")
        if done is None:
            failed += 1
        else:
            changed += done
    session.flush()
    return changed, failed
