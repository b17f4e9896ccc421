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
from scheduler.errors import Forbidden, InvalidField
from scheduler.models import Booking, BookingEvent, StaffUser
from scheduler.protect import CANNOT_DECRYPT_ZH, Undecryptable


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


# Roles that make the confirming phone call and may see a resident's full number.
CALLING_ROLES = frozenset({"window", "dispatcher", "admin"})
PHONE_COLUMNS = {"applicant": "phone_enc", "booker": "booker_phone_enc"}


def reveal_phone(
    session: Session,
    protector: Any,
    booking: Booking,
    *,
    whose: str,
    actor: Actor,
    now: datetime,
) -> str:
    """The full phone of the applicant or the booker (`whose`) for a calling role, and its
    audit event `phone_revealed` (who: the actor's staff id, whose: booking and person,
    when: now). Forbidden for residents and for roles that do not call."""
    need_staff(actor)
    if actor.role not in CALLING_ROLES:
        raise Forbidden("只有窗口、调度和管理员可以查看完整电话。")
    column = PHONE_COLUMNS.get(whose)
    if column is None:
        raise InvalidField("不认识要查看的电话。", field="whose")
    token = getattr(booking, column)
    if not token:
        raise InvalidField("该预约没有这个电话。", field="whose")
    record(session, booking, "phone_revealed", booking.status, booking.status, actor, now, whose)
    try:
        phone: str = protector.decrypt(token, field=column)
    except Undecryptable:
        return CANNOT_DECRYPT_ZH
    return phone
