"""Retention (PIPL Arts. 19 and 47): keep personal information only as long as the
purpose needs it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from scheduler.booking.dates import utc_naive
from scheduler.models import Booking, BookingEvent, IdempotencyRecord, Status

PURGED = "已删除"
# A stored answer serves retries of a lost answer: a day covers any client's retries.
IDEMPOTENCY_KEEP = timedelta(hours=24)


def purge_finished(session: Session, *, now: datetime, older_than_days: int) -> int:
    """Erase personal data of bookings finished or cancelled more than N days ago.

    What remains is what statistics need (item, township, dates, age band, reason,
    status) and the audit trail; names, phones, the ID hash and street detail go.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    limit = utc_naive(now) - timedelta(days=older_than_days)
    rows = session.scalars(
        select(Booking).where(
            Booking.status.in_((Status.DONE, Status.MISSED, Status.CANCELLED)),
            Booking.updated_at < limit,
            Booking.id_hash != "",
        )
    ).all()
    for b in rows:
        b.applicant_name_enc = b.phone_enc = b.address_detail_enc = b.id_hash = ""
        b.applicant_name_masked, b.id_masked, b.phone_masked = PURGED, PURGED, PURGED
        b.booker_name_enc = b.booker_name_masked = b.booker_phone_enc = None
        b.booker_phone_masked = b.booker_relationship = None
        b.lat = b.lon = None
        session.add(
            BookingEvent(
                booking_id=b.id,
                at=utc_naive(now),
                action="purged",
                actor_kind="system",
                channel="system",
                from_status=b.status,
                to_status=b.status,
                detail=f"personal data erased after {older_than_days} days",
            )
        )
    session.flush()
    return len(rows)


def purge_idempotency(
    session: Session, *, now: datetime, keep: timedelta = IDEMPOTENCY_KEEP
) -> int:
    """Delete stored answers to Idempotency-Key requests older than `keep` (they hold
    the masked name and phone of the booking they answered)."""
    result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utc_naive(now) - keep)
    )
    return int(result.rowcount)
