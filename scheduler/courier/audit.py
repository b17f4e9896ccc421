"""Who changed what: the actor of a courier action and its audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from scheduler.courier.models import CourierEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """`kind` staff | system | resident; `channel` window | import | dispatch | job | web."""

    kind: str
    channel: str
    staff_id: int | None = None


SYSTEM_JOB = Actor("system", "job")


def utc_naive(moment: datetime) -> datetime:
    """Stored form of a moment: UTC without offset (SQLite drops offsets)."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(UTC).replace(tzinfo=None)


def record(
    session: Session,
    *,
    now: datetime,
    actor: Actor,
    action: str,
    to_status: str,
    from_status: str | None = None,
    certificate_id: int | None = None,
    batch_id: int | None = None,
    detail: str = "",
) -> CourierEvent:
    """Add one audit event; `detail` must never hold personal data."""
    event = CourierEvent(
        certificate_id=certificate_id,
        batch_id=batch_id,
        at=utc_naive(now),
        action=action,
        actor_kind=actor.kind,
        actor_staff_id=actor.staff_id,
        channel=actor.channel,
        from_status=from_status,
        to_status=to_status,
        detail=detail[:200],
    )
    session.add(event)
    return event
