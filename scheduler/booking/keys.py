"""Moving stored personal data to the current data key (after `onetrip keys rotate`)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import Booking
from scheduler.protect import Protector, Undecryptable

log = logging.getLogger(__name__)
ENCRYPTED = (
    "applicant_name_enc",
    "phone_enc",
    "booker_name_enc",
    "booker_phone_enc",
    "address_detail_enc",
)


def reencrypt(session: Session, protector: Protector, *, batch: int = 500) -> tuple[int, int]:
    """Re-encrypt every value not under the current key; (values changed, values no key
    decrypts). The latter stay as they are and are logged by booking id."""
    changed = failed = 0
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(Booking).where(Booking.id > last_id).order_by(Booking.id).limit(batch)
            )
        )
        if not rows:
            break
        for b in rows:
            for column in ENCRYPTED:
                token = getattr(b, column)
                if not token or not protector.needs_reencryption(token):
                    continue
                try:
                    value = protector.decrypt(token, field=column)
                except Undecryptable as err:
                    log.warning(
                        "booking id=%s column %s cannot be decrypted (key id %s)",
                        b.id,
                        column,
                        err.key_id or "unknown",
                    )
                    failed += 1
                    continue
                setattr(b, column, protector.encrypt(value, field=column))
                changed += 1
        last_id = rows[-1].id
        session.flush()
    return changed, failed
