"""Capacity: places per (zone, date, half-day), taken and given back by guarded UPDATEs.

`booked < capacity` inside one conditional UPDATE is the guard against overbooking
under any concurrency, on SQLite and PostgreSQL alike (no SELECT … FOR UPDATE, which
SQLAlchemy drops on SQLite).

What `capacity` is comes from a `CapacityRule`, recomputed for the whole date whenever
what it depends on changes (a shift added, a clerk marked absent, the demo): `PerClerk`
(a flat number per clerk on shift and not absent) here, or the plan-aware rule of
`scheduler.planning.capacity` (visits the clerks on shift can actually make, per skill,
with travel), injected where the service is built — booking does not import planning.
A skill-aware rule also stores, per slot, how much service time the clerks with each
skill can give (`SlotSkill.service_s`): places are counted in visits, but a skill's share
in seconds, so that a cluster of long visits cannot take what only short ones would fit.
A booking needing a skill adds up the durations of the slot's bookings of that skill
while it holds the slot row's lock (taken by the guarded UPDATE), so two bookers of one
slot are serialised and neither bound can be overrun.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from scheduler.booking.dates import first_bookable, last_bookable, local_date
from scheduler.errors import InvalidField, SlotFull
from scheduler.models import (
    HALF_DAY_ZH,
    HOLDING,
    Booking,
    Clerk,
    Shift,
    Slot,
    SlotSkill,
    Zone,
    ZoneTown,
)
from scheduler.settings import BookingSettings
from scheduler.settings import Zone as ZoneSetting

# Booking creation runs on the request's ORM session or on a plain Core connection (the
# API, which needs no unit of work); what it uses, both offer.
Db = Session | Connection
SLOTS: Table = Slot.__table__  # type: ignore[assignment]


DEFAULT_SERVICE_MIN = 30  # a home visit whose item gives no duration


@dataclass(frozen=True, slots=True)
class Places:
    """What a slot may promise: ``total`` visits, and of them, visits needing skill ``s``
    whose durations add up to at most ``skill_s[s]`` seconds (a skill not listed is
    bounded by the total only)."""

    total: int
    skill_s: Mapping[str, int] = field(default_factory=dict)


class CapacityRule(Protocol):
    """Decides the places of every slot of a date (zone, half-day) from the shifts."""

    @property
    def skill_aware(self) -> bool:
        """Whether `places` bounds visits per skill (then bookings needing a skill are
        checked against `SlotSkill` too)."""
        ...

    def places(self, session: Session, day: date) -> Mapping[tuple[str, str], Places]: ...


def nobody_absent(session: Session, day: date) -> Collection[int]:
    return ()


@dataclass(frozen=True, slots=True)
class PerClerk:
    """A flat number of places per active clerk on shift and not absent; no bound per
    skill. Who is absent on a date (the dispatcher's 请假 mark, which planning keeps) comes
    from ``absent``, injected where the service is built."""

    per_clerk: int
    absent: Callable[[Session, date], Collection[int]] = nobody_absent

    @property
    def skill_aware(self) -> bool:
        return False

    def places(self, session: Session, day: date) -> dict[tuple[str, str], Places]:
        query = (
            select(Shift.zone_code, Shift.half_day, func.count())
            .join(Clerk, Clerk.id == Shift.clerk_id)
            .where(Shift.date == day, Clerk.active)
            .group_by(Shift.zone_code, Shift.half_day)
        )
        away = list(self.absent(session, day))
        if away:
            query = query.where(Shift.clerk_id.not_in(away))
        rows = session.execute(query).all()
        return {(str(z), str(h)): Places(int(n) * self.per_clerk) for z, h, n in rows}


def service_s(catalog: Any, item_code: str) -> int:
    """How long a home visit for the item takes, seconds (the guide's duration)."""
    item = catalog.items.get(item_code)
    minutes = item.home_visit.duration_min if item and item.home_visit.duration_min else None
    return (minutes or DEFAULT_SERVICE_MIN) * 60


@dataclass(frozen=True, slots=True)
class SkillNeed:
    """A booking's skill, its own visit's duration, and the duration of every item that
    needs the skill (whose bookings share the skill's time)."""

    skill: str
    service_s: int
    durations: Mapping[str, int]


def skill_need(catalog: Any, item_code: str) -> SkillNeed | None:
    item = catalog.items.get(item_code)
    skill = item.home_visit.skill if item is not None else None
    if not skill:
        return None
    durations = {
        c: service_s(catalog, c) for c, i in catalog.items.items() if i.home_visit.skill == skill
    }
    return SkillNeed(skill, service_s(catalog, item_code), durations)


def skill_rooms(db: Db, slot_ids: Sequence[int], need: SkillNeed) -> dict[int, int]:
    """Visits like ``need``'s that still fit in each slot that bounds the skill (slots
    without a bound are left out): the skill's seconds left over the visit's duration.
    Exact only while the slot row is locked (see the module docstring)."""
    if not slot_ids:
        return {}
    caps = {
        int(sid): int(cap)
        for sid, cap in db.execute(
            select(SlotSkill.slot_id, SlotSkill.service_s).where(
                SlotSkill.slot_id.in_(slot_ids), SlotSkill.skill == need.skill
            )
        )
    }
    if not caps:
        return {}
    duration = case(need.durations, value=Booking.item_code, else_=0)
    taken = {
        int(sid): int(total or 0)
        for sid, total in db.execute(
            select(Booking.slot_id, func.sum(duration))
            .where(
                Booking.slot_id.in_(list(caps)),
                Booking.status.in_(HOLDING),
                Booking.item_code.in_(list(need.durations)),
            )
            .group_by(Booking.slot_id)
        )
    }
    return {sid: max(cap - taken.get(sid, 0), 0) // need.service_s for sid, cap in caps.items()}


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
    need: SkillNeed | None = None,
) -> list[SlotView]:
    """Half-days of the township's zone over the horizon that have clerks on shift; with
    ``need``, the places left are those for a visit needing that skill."""
    zone = zone_of(session, town_code)
    first = local_date(now) if staff else first_bookable(settings, now)
    rows = list(
        session.scalars(
            select(Slot)
            .where(
                Slot.zone_code == zone,
                Slot.date >= first,
                Slot.date <= last_bookable(settings, now),
                Slot.capacity > 0,
            )
            .order_by(Slot.date, Slot.half_day)
        )
    )
    rooms = skill_rooms(session, [s.id for s in rows], need) if need else {}
    return [
        SlotView(
            s.date,
            s.half_day,
            s.capacity,
            min(max(s.capacity - s.booked, 0), rooms.get(s.id, s.capacity)),
        )
        for s in rows
    ]


def alternatives(
    db: Db,
    settings: BookingSettings,
    zone: str,
    after: date,
    half_day: str,
    now: datetime,
    need: SkillNeed | None = None,
) -> list[SlotView]:
    """Half-days with room in the zone after the requested one (room for the skill, with
    ``need``), earliest first."""
    rows = db.execute(
        select(Slot.id, Slot.date, Slot.half_day, Slot.capacity, Slot.booked)
        .where(
            Slot.zone_code == zone,
            Slot.date >= first_bookable(settings, now),
            Slot.date <= last_bookable(settings, now),
            Slot.booked < Slot.capacity,
            or_(Slot.date > after, and_(Slot.date == after, Slot.half_day > half_day)),
        )
        .order_by(Slot.date, Slot.half_day)
    ).all()
    rooms = skill_rooms(db, [r.id for r in rows], need) if need else {}
    out = []
    for r in rows:
        left = min(r.capacity - r.booked, rooms.get(r.id, r.capacity))
        if left > 0:
            out.append(SlotView(r.date, r.half_day, r.capacity, left))
        if len(out) == settings.alternatives:
            break
    return out


def full(
    db: Db,
    settings: BookingSettings,
    zone: str,
    day: date,
    half_day: str,
    now: datetime,
    need: SkillNeed | None = None,
) -> SlotFull:
    """The answer to a request for a half-day without room: the next ones with room."""
    alts = alternatives(db, settings, zone, day, half_day, now, need)
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
    need: SkillNeed | None = None,
) -> tuple[int, str]:
    """Atomically take one place in the zone (given, or the township's); (slot id, zone).
    SlotFull (with alternatives) when there is none.

    With ``need``, the slot must also have room for the skill: counted after the guarded
    UPDATE, which holds the slot row until the caller's transaction ends (so run it in
    one — not on an autocommit connection); when there is none the place is given back.
    """
    stmt = _TAKE_IN_ZONE if zone is not None else _TAKE_IN_TOWN
    params = {"zone_": zone, "town_": town, "day_": day, "half_": half_day}
    row = db.execute(stmt, params).first()
    if row is not None:
        slot_id, zone = int(row[0]), str(row[1])
        if need is None or skill_rooms(db, [slot_id], need).get(slot_id, 1) > 0:
            return slot_id, zone
        release_place(db, slot_id)
        raise full(db, settings, zone, day, half_day, now, need)
    if zone is None:
        assert town is not None
        zone = zone_of(db, town)  # raises when the township has no zone
    raise full(db, settings, zone, day, half_day, now, need)


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


def sync_day(session: Session, day: date, rule: CapacityRule) -> dict[tuple[str, str], Slot]:
    """Set every slot of ``day`` to the rule's places (creating slots; a slot the rule no
    longer gives places to goes to 0). Places already taken stay taken: a slot can end
    up with more bookings than places, and then takes no more."""
    places = rule.places(session, day)
    slots_ = {
        (s.zone_code, s.half_day): s for s in session.scalars(select(Slot).where(Slot.date == day))
    }
    for key in sorted(places.keys() - slots_.keys()):
        slots_[key] = Slot(zone_code=key[0], date=day, half_day=key[1], capacity=0, booked=0)
        session.add(slots_[key])
    for key, slot in slots_.items():
        slot.capacity = places[key].total if key in places else 0
    session.flush()
    session.execute(delete(SlotSkill).where(SlotSkill.slot_id.in_([s.id for s in slots_.values()])))
    session.add_all(
        SlotSkill(slot_id=slot.id, skill=skill, service_s=n)
        for key, slot in slots_.items()
        if key in places
        for skill, n in sorted(places[key].skill_s.items())
    )
    session.flush()
    return slots_


def add_shift(
    session: Session, clerk_id: int, zone: str, day: date, half_day: str, rule: CapacityRule
) -> Shift:
    """Put a clerk on home visits in a zone for a half-day; the date's capacity follows."""
    shift = Shift(clerk_id=clerk_id, zone_code=zone, date=day, half_day=half_day)
    session.add(shift)
    session.flush()
    sync_day(session, day, rule)
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
