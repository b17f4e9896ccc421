"""The one adapter between planning and the booking side.

Everything planning, publishing and the clerk's day need from bookings goes through
here: which bookings a date has, the clerks on shift, and the booking service's
transitions (confirm, schedule, finish, move). When the booking side changes shape
(``scheduler.booking`` becoming a package), this is the file to adapt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.booking import Actor, BookingService, audit, to_local, utc_naive
from scheduler.models import (
    ACTIVE,
    HALF_DAY_ZH,
    STATUS_ZH,
    Booking,
    Clerk,
    Shift,
    Slot,
    StaffUser,
    Status,
    Zone,
)

__all__ = [
    "ACTIVE",
    "HALF_DAY_ZH",
    "STATUS_ZH",
    "Actor",
    "Booking",
    "BookingService",
    "Clerk",
    "ClerkDay",
    "Shift",
    "Slot",
    "StaffUser",
    "Status",
    "Zone",
    "bookings_of",
    "clerk_days",
    "confirm",
    "finish",
    "move",
    "open_slots",
    "reschedule",
    "schedule",
    "system_actor",
    "to_local",
    "unschedule",
    "utc_naive",
]

# Bookings the plan of their date must serve: accepted and not yet over.
PLANNED = (Status.PENDING, Status.CONFIRMED, Status.SCHEDULED)


def system_actor() -> Actor:
    return Actor("system", "system")


def staff_actor(user: StaffUser, channel: str = "window") -> Actor:
    return Actor("staff", channel, staff_id=user.id, role=user.role)


def bookings_of(session: Session, day: date) -> list[Booking]:
    """The date's bookings that the plan must serve, in booking order."""
    return list(
        session.scalars(
            select(Booking)
            .where(Booking.date == day, Booking.status.in_(PLANNED))
            .order_by(Booking.id)
        )
    )


@dataclass(frozen=True, slots=True)
class ClerkDay:
    """A clerk on home visits on a date: which half-days, in which zone each."""

    clerk_id: int
    name: str
    skills: frozenset[str]
    zones: dict[str, str]  # half-day -> zone code


def clerk_days(session: Session, day: date, absent: Sequence[int] = ()) -> list[ClerkDay]:
    rows = session.execute(
        select(Shift, Clerk)
        .join(Clerk, Clerk.id == Shift.clerk_id)
        .where(Shift.date == day, Clerk.active)
        .order_by(Clerk.id, Shift.half_day)
    ).all()
    out: dict[int, ClerkDay] = {}
    for shift, clerk in rows:
        if clerk.id in absent:
            continue
        cd = out.get(clerk.id)
        if cd is None:
            skills = frozenset(s for s in clerk.skills.split(",") if s)
            cd = out[clerk.id] = ClerkDay(clerk.id, clerk.name, skills, {})
        cd.zones[shift.half_day] = shift.zone_code
    return list(out.values())


def clerk_names(session: Session) -> dict[int, str]:
    return {c.id: c.name for c in session.scalars(select(Clerk))}


def zone_names(session: Session) -> dict[str, str]:
    return {z.code: z.name for z in session.scalars(select(Zone))}


def open_slots(
    session: Session, zone: str, after: date, limit: int = 3
) -> list[tuple[date, str, int]]:
    """Half-days of a zone after ``after`` with places left: (date, half-day, places)."""
    rows = session.execute(
        select(Slot.date, Slot.half_day, Slot.capacity - Slot.booked)
        .where(Slot.zone_code == zone, Slot.date > after, Slot.booked < Slot.capacity)
        .order_by(Slot.date, Slot.half_day)
        .limit(limit)
    ).all()
    return [(r[0], r[1], int(r[2])) for r in rows]


def confirm(
    service: BookingService, session: Session, b: Booking, *, now: datetime, actor: Actor
) -> None:
    service.confirm(session, b, now=now, actor=actor)


def schedule(
    service: BookingService,
    session: Session,
    b: Booking,
    *,
    clerk_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    actor: Actor,
) -> None:
    service.schedule(session, b, clerk_id=clerk_id, start=start, end=end, now=now, actor=actor)


def reschedule(
    session: Session,
    b: Booking,
    *,
    clerk_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    actor: Actor,
) -> None:
    """A scheduled booking gets another clerk or window (a republished plan).

    The booking service has no transition for it (scheduled -> scheduled); the change is
    written here with its audit event, like the service's own transitions.
    """
    session.refresh(b, with_for_update=True)
    if b.status != Status.SCHEDULED:
        raise ValueError(f"booking {b.id} is {b.status}, not scheduled")
    detail = f"{_hm(b.window_start)}-{_hm(b.window_end)} -> {start:%H:%M}-{end:%H:%M}"
    b.assigned_clerk_id = clerk_id
    b.window_start, b.window_end = utc_naive(start), utc_naive(end)
    b.updated_at = utc_naive(now)
    _event(session, b, "rescheduled", Status.SCHEDULED, Status.SCHEDULED, actor, now, detail)


def unschedule(session: Session, b: Booking, *, now: datetime, actor: Actor) -> None:
    """A scheduled booking that the republished plan no longer serves: back to confirmed."""
    session.refresh(b, with_for_update=True)
    if b.status != Status.SCHEDULED:
        return
    b.status = Status.CONFIRMED
    b.assigned_clerk_id = None
    b.window_start = b.window_end = None
    b.updated_at = utc_naive(now)
    _event(session, b, "unscheduled", Status.SCHEDULED, Status.CONFIRMED, actor, now)


def finish(
    service: BookingService,
    session: Session,
    b: Booking,
    outcome: Status,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    service.finish(session, b, outcome, now=now, actor=actor)


def move(
    service: BookingService,
    session: Session,
    b: Booking,
    day: date,
    half_day: str,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    service.move(session, b, day, half_day, now=now, actor=actor)


def _hm(stored: datetime | None) -> str:
    return to_local(stored).strftime("%H:%M") if stored else "--:--"


def _event(
    session: Session,
    b: Booking,
    action: str,
    before: str,
    after: str,
    actor: Actor,
    now: datetime,
    detail: str = "",
) -> None:
    """The change's audit event, written as the booking side writes its own."""
    audit.record(session, b, action, str(before), str(after), actor, now, detail[:200])


def decrypt(service: BookingService, b: Booking, field: str) -> str:
    """The decrypted value (for sending); raises ``Undecryptable`` when no data key opens
    it. Pages show values through ``scheduler.web.present.reveal`` (「无法解密」)."""
    value: Any = getattr(b, field)
    if not value:
        return ""
    return str(service.protector.decrypt(value, field=field))


def now_utc() -> datetime:
    return datetime.now(UTC)
