"""The audit trail: who acted, through which channel, when, from which status to which.

Every change of a booking writes one `booking_events` row; its detail never holds
personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.booking.dates import utc_naive
from scheduler.errors import Forbidden
from scheduler.models import Booking, BookingEvent, StaffUser


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and through which channel: a resident on the web, staff, or the system."""

    kind: str  # resident | staff | system
    channel: str  # web | phone | window | visit | system
    staff_id: int | None = None
    role: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind in {"staff", "system"}


RESIDENT_WEB = Actor("resident", "web")
SYSTEM = Actor("system", "system")


def need_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("只有工作人员可以进行此操作。")


def event_row(
    action: str,
    before: str | None,
    after: str,
    actor: Actor,
    now: datetime,
    detail: str = "",
) -> dict[str, Any]:
    """The columns of an event (without its booking id)."""
    return {
        "at": utc_naive(now),
        "action": action,
        "actor_kind": actor.kind,
        "actor_staff_id": actor.staff_id,
        "channel": actor.channel,
        "from_status": before,
        "to_status": str(after),
        "detail": detail,
    }


def record(
    session: Session,
    booking: Booking,
    action: str,
    before: str | None,
    after: str,
    actor: Actor,
    now: datetime,
    detail: str = "",
) -> None:
    """Add the event of a change to the session."""
    row = event_row(action, before, after, actor, now, detail)
    session.add(BookingEvent(booking_id=booking.id, **row))
    session.flush()


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One event as a staff page shows it; `staff_name` is set for staff actions."""

    at: datetime  # naive UTC, as stored
    action: str
    actor_kind: str
    staff_name: str | None
    channel: str
    from_status: str | None
    to_status: str
    detail: str


def trail(session: Session, booking_id: int) -> list[TrailEntry]:
    """A booking's events in order, with the names of the staff who acted."""
    rows = session.execute(
        select(BookingEvent, StaffUser.name)
        .outerjoin(StaffUser, StaffUser.id == BookingEvent.actor_staff_id)
        .where(BookingEvent.booking_id == booking_id)
        .order_by(BookingEvent.id)
    ).all()
    return [
        TrailEntry(
            at=e.at,
            action=e.action,
            actor_kind=e.actor_kind,
            staff_name=name,
            channel=e.channel,
            from_status=e.from_status,
            to_status=e.to_status,
            detail=e.detail,
        )
        for e, name in rows
    ]
