"""Capacity: places per (zone, date, half-day), taken and given back by guarded UPDATEs.

`booked < capacity` inside one conditional UPDATE is the guard against overbooking
under any concurrency, on SQLite and PostgreSQL alike (no SELECT … FOR UPDATE, which
SQLAlchemy drops on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from scheduler.booking.dates import first_bookable, last_bookable, local_date
from scheduler.errors import InvalidField, SlotFull
from scheduler.models import HALF_DAY_ZH, Clerk, Shift, Slot, Zone, ZoneTown
from scheduler.settings import BookingSettings
from scheduler.settings import Zone as ZoneSetting

# Booking creation runs on the request's ORM session or on a plain Core connection (the
# API, which needs no unit of work); what it uses, both offer.
Db = Session | Connection
SLOTS: Table = Slot.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class SlotView:
    date: date
    half_day: str
    capacity: int
    remaining: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "half_day": self.half_day,
            "half_day_name": HALF_DAY_ZH[self.half_day],
            "capacity": self.capacity,
            "remaining": self.remaining,
        }


def zone_of(db: Db, town_code: str) -> str:
    """The zone serving a township, or a field error when none does."""
    zone = db.scalar(select(ZoneTown.zone_code).where(ZoneTown.town_code == town_code))
    if zone is None:
        raise InvalidField(
            "该乡镇（街道）暂未安排上门服务，请拨打12345咨询。",
            field="address.town_code",
            code="township_not_served",
        )
    return str(zone)


def zones_by_town(session: Session) -> dict[str, str]:
    """Township code -> zone code, for every township served."""
    rows = session.execute(select(ZoneTown.town_code, ZoneTown.zone_code)).all()
    return {str(t): str(z) for t, z in rows}


def slots(
    session: Session,
    settings: BookingSettings,
    town_code: str,
    now: datetime,
    *,
    staff: bool = False,
) -> list[SlotView]:
    """Half-days of the township's zone over the horizon that have clerks on shift."""
    zone = zone_of(session, town_code)
    first = local_date(now) if staff else first_bookable(settings, now)
    rows = session.scalars(
        select(Slot)
        .where(
            Slot.zone_code == zone,
            Slot.date >= first,
            Slot.date <= last_bookable(settings, now),
            Slot.capacity > 0,
        )
        .order_by(Slot.date, Slot.half_day)
    )
    return [SlotView(s.date, s.half_day, s.capacity, max(s.capacity - s.booked, 0)) for s in rows]


def alternatives(
    db: Db, settings: BookingSettings, zone: str, after: date, half_day: str, now: datetime
) -> list[SlotView]:
    """Half-days with room in the zone after the requested one, earliest first."""
    rows = db.execute(
        select(Slot.date, Slot.half_day, Slot.capacity, Slot.booked)
        .where(
            Slot.zone_code == zone,
            Slot.date >= first_bookable(settings, now),
            Slot.date <= last_bookable(settings, now),
            Slot.booked < Slot.capacity,
            or_(Slot.date > after, and_(Slot.date == after, Slot.half_day > half_day)),
        )
        .order_by(Slot.date, Slot.half_day)
        .limit(settings.alternatives)
    )
    return [SlotView(r.date, r.half_day, r.capacity, r.capacity - r.booked) for r in rows]


def full(
    db: Db, settings: BookingSettings, zone: str, day: date, half_day: str, now: datetime
) -> SlotFull:
    """The answer to a request for a half-day without room: the next ones with room."""
    alts = alternatives(db, settings, zone, day, half_day, now)
    return SlotFull(
        "所选时段已约满，请改选其他日期。" if alts else "近期上门名额已约满，请拨打12345登记。",
        field="date",
        extra={"alternatives": [a.as_dict() for a in alts]},
    )


def take_statement(zone: Any) -> Any:
    """UPDATE … SET booked = booked + 1 WHERE … AND booked < capacity RETURNING id, zone.

    Parameters `day_` and `half_` (not column names: in an UPDATE those would become
    SET clauses)."""
    return (
        update(SLOTS)
        .where(
            SLOTS.c.zone_code == zone,
            SLOTS.c.date == bindparam("day_"),
            SLOTS.c.half_day == bindparam("half_"),
            SLOTS.c.booked < SLOTS.c.capacity,
        )
        .values(booked=SLOTS.c.booked + 1)
        .returning(SLOTS.c.id, SLOTS.c.zone_code)
    )


def town_zone(town_param: str = "town_") -> Any:
    """The zone of the township given as parameter `town_param`, as a scalar subquery."""
    return (
        select(ZoneTown.zone_code)
        .where(ZoneTown.town_code == bindparam(town_param))
        .scalar_subquery()
    )


_TAKE_IN_ZONE = take_statement(bindparam("zone_"))
_TAKE_IN_TOWN = take_statement(town_zone())


def take_place(
    db: Db,
    settings: BookingSettings,
    day: date,
    half_day: str,
    now: datetime,
    *,
    zone: str | None = None,
    town: str | None = None,
) -> tuple[int, str]:
    """Atomically take one place in the zone (given, or the township's); (slot id, zone).
    SlotFull (with alternatives) when there is none."""
    stmt = _TAKE_IN_ZONE if zone is not None else _TAKE_IN_TOWN
    params = {"zone_": zone, "town_": town, "day_": day, "half_": half_day}
    row = db.execute(stmt, params).first()
    if row is not None:
        return int(row[0]), str(row[1])
    if zone is None:
        assert town is not None
        zone = zone_of(db, town)  # raises when the township has no zone
    raise full(db, settings, zone, day, half_day, now)


def release_place(db: Db, slot_id: int) -> None:
    """Give a place back (never below zero)."""
    db.execute(
        update(SLOTS)
        .where(SLOTS.c.id == slot_id, SLOTS.c.booked > 0)
        .values(booked=SLOTS.c.booked - 1)
    )


def has_room(db: Db, zone: str, day: date, half_day: str) -> bool:
    found = db.scalar(
        select(Slot.id).where(
            Slot.zone_code == zone,
            Slot.date == day,
            Slot.half_day == half_day,
            Slot.booked < Slot.capacity,
        )
    )
    return found is not None


def lock_slots_in_order(
    session: Session, zone: str, old_slot_id: int, day: date, half_day: str
) -> None:
    """Lock the old and the new slot rows in id order before a move touches them.

    Two opposite moves (X→Y and Y→X) would otherwise lock the rows in opposite order
    and PostgreSQL would abort one as a deadlock. SQLite has one writer at a time and
    ignores FOR UPDATE.
    """
    target = select(Slot.id).where(
        Slot.zone_code == zone, Slot.date == day, Slot.half_day == half_day
    )
    session.execute(
        select(Slot.id)
        .where(or_(Slot.id == old_slot_id, Slot.id.in_(target.scalar_subquery())))
        .order_by(Slot.id)
        .with_for_update()
    ).all()


def sync_capacity(session: Session, zone: str, day: date, half_day: str, per_clerk: int) -> Slot:
    """Set a slot's capacity from the clerks on shift (creating the slot if needed)."""
    clerks = (
        session.scalar(
            select(func.count())
            .select_from(Shift)
            .where(Shift.zone_code == zone, Shift.date == day, Shift.half_day == half_day)
        )
        or 0
    )
    slot = session.scalar(
        select(Slot).where(Slot.zone_code == zone, Slot.date == day, Slot.half_day == half_day)
    )
    if slot is None:
        slot = Slot(zone_code=zone, date=day, half_day=half_day, capacity=0, booked=0)
        session.add(slot)
    slot.capacity = clerks * per_clerk
    session.flush()
    return slot


def add_shift(
    session: Session, clerk_id: int, zone: str, day: date, half_day: str, per_clerk: int
) -> Shift:
    """Put a clerk on home visits in a zone for a half-day; the slot's capacity follows."""
    shift = Shift(clerk_id=clerk_id, zone_code=zone, date=day, half_day=half_day)
    session.add(shift)
    session.flush()
    sync_capacity(session, zone, day, half_day, per_clerk)
    return shift


def on_shift(session: Session, clerk_id: int, zone: str, day: date, half_day: str) -> bool:
    """Whether the clerk is out on home visits in the zone for that half-day."""
    found = session.scalar(
        select(Shift.id).where(
            Shift.clerk_id == clerk_id,
            Shift.zone_code == zone,
            Shift.date == day,
            Shift.half_day == half_day,
        )
    )
    return found is not None


def ensure_zones(session: Session, zones: Iterable[ZoneSetting]) -> None:
    """Create the configured zones and (re)assign their townships."""
    for z in zones:
        if session.get(Zone, z.code) is None:
            session.add(Zone(code=z.code, name=z.name))
        session.flush()
        for town in z.town_codes:
            row = session.get(ZoneTown, town)
            if row is None:
                session.add(ZoneTown(town_code=town, zone_code=z.code))
            else:
                row.zone_code = z.code
    session.flush()


def clerks_on_shift(session: Session, zone: str, day: date, half_day: str) -> list[Clerk]:
    """Active clerks out on home visits in the zone for that half-day, by id."""
    return list(
        session.scalars(
            select(Clerk)
            .join(Shift, Shift.clerk_id == Clerk.id)
            .where(
                Clerk.active,
                Shift.zone_code == zone,
                Shift.date == day,
                Shift.half_day == half_day,
            )
            .order_by(Clerk.id)
        )
    )
