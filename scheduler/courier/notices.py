"""Sending the courier's notices (dispatched, returned) through the outbox's sender.

The same guarantees as booking notices (``scheduler.notify.outbox``): claimed with a
lease before sending, retried with back-off, ``dead`` after ``MAX_ATTEMPTS`` failures
and kept, one notice per event (``event_key`` is unique). The phone is decrypted from
the certificate only here; a phone no data key opens is dead at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.courier.models import Certificate, CourierNotice
from scheduler.notify import outbox
from scheduler.protect import Protector


def drain(
    session: Session,
    sender: outbox.Sender,
    protector: Protector,
    *,
    now: datetime,
    limit: int = 100,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, int]:
    """Send due courier notices (commits after each claim and each result)."""

    def outgoing(notice: Any) -> outbox.Outgoing:
        cert = session.get(Certificate, notice.certificate_id)
        if cert is None or not cert.phone_enc:
            raise outbox.Gone("no phone")
        return outbox.Outgoing(
            key=f"onetrip-courier-notice-{notice.id}",
            kind=notice.kind,
            reference=cert.reference,
            phone=protector.decrypt(cert.phone_enc, field="phone_enc"),
            text=outbox.HEAD + notice.body,
        )

    return outbox.drain_table(
        session,
        CourierNotice,
        sender,
        outgoing,
        now=now,
        limit=limit,
        clock=clock,
        what="courier notice",
    )
