"""The booking service: one code path for every channel (web, relative, staff on the phone).

Functions take a Session and `now` (aware UTC) and never commit; the caller does.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import identity
from scheduler.errors import (
    Conflict,
    Forbidden,
    InvalidField,
    LookupLocked,
    NotEligible,
    NotFound,
    SlotFull,
)
from scheduler.fastsql import Prepared, violated_constraint
from scheduler.models import (
    ACTIVE,
    HALF_DAY_ZH,
    ONE_ACTIVE_PER_PERSON_ITEM,
    STATUS_ZH,
    Booking,
    BookingEvent,
    Shift,
    Slot,
    Status,
    Zone,
    ZoneTown,
)
from scheduler.protect import Protector
from scheduler.schemas import BookingRequest
from scheduler.settings import TZ, BookingSettings

log = logging.getLogger(__name__)
# Where booking creation runs: the request's ORM session, or a plain Core connection
# (the API's hot path, which skips the session's bookkeeping). The code paths of
# `create` use only what both offer.
Db = Session | Connection


def connection_of(db: Db) -> Connection:
    """The connection to run prepared statements on; a session's pending changes are
    flushed first, as its own execute() would."""
    if isinstance(db, Session):
        db.flush()
        return db.connection()
    return db


_BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
_EVENTS: Table = BookingEvent.__table__  # type: ignore[assignment]
# Prepared statements: compiled once per dialect, run on the DBAPI cursor (fastsql).
_SLOTS: Table = Slot.__table__  # type: ignore[assignment]
_UNIQUE_REFERENCE = "bookings_reference_key"  # PostgreSQL's name for the unique constraint
# Columns a new booking leaves at their defaults (NULL, 0): set by planning or look-ups.
_SET_LATER = {
    "id",
    "window_start",
    "window_end",
    "assigned_clerk_id",
    "lookup_failures",
    "lookup_failed_at",
}
_BOOKING_KEYS = tuple(c.key for c in _BOOKINGS.columns if c.key not in _SET_LATER)
_EVENT_KEYS = tuple(c.key for c in _EVENTS.columns if c.key != "id")
# A booking that breaks a unique rule inserts nothing and returns no id: no savepoint
# and no IntegrityError to recover from. Without a conflict target this covers every
# unique index on both databases, the partial one included.
_INSERT_BOOKING = {
    "sqlite": Prepared(
        sqlite.insert(_BOOKINGS).on_conflict_do_nothing().returning(_BOOKINGS.c.id),
        _BOOKING_KEYS,
    ),
    "postgresql": Prepared(
        postgresql.insert(_BOOKINGS).on_conflict_do_nothing().returning(_BOOKINGS.c.id),
        _BOOKING_KEYS,
    ),
}
_INSERT_EVENT = Prepared(insert(_EVENTS), _EVENT_KEYS)


def _take_stmt(zone: Any) -> Any:
    return (
        update(_SLOTS)
        .where(
            _SLOTS.c.zone_code == zone,
            _SLOTS.c.date == bindparam("day_"),
            _SLOTS.c.half_day == bindparam("half"),
            _SLOTS.c.booked < _SLOTS.c.capacity,
        )
        .values(booked=_SLOTS.c.booked + 1)
        .returning(_SLOTS.c.id, _SLOTS.c.zone_code)
    )


_TAKE_IN_ZONE = Prepared(_take_stmt(bindparam("zone_")))
_TAKE_IN_TOWN = Prepared(
    _take_stmt(
        select(ZoneTown.zone_code).where(ZoneTown.town_code == bindparam("town")).scalar_subquery()
    )
)


def _book_at_once_stmt() -> Any:
    """PostgreSQL: take a place, insert the booking and its "created" event, one statement.

    The same guard as `_TAKE_IN_TOWN` (`booked < capacity` in one UPDATE), with two more
    conditions so that nothing is taken for a booking that could not be inserted: no
    active booking of the person for the item, and the reference not in use. A
    statement is atomic, so without a transaction around it (autocommit) it is one
    round trip instead of five (BEGIN, three statements, COMMIT). Parameters are the
    booking's columns, the event's columns prefixed "event_", and "town".
    """
    b, s = _BOOKINGS.c, _SLOTS.c

    def value(column: Any, name: str) -> Any:
        # In INSERT … SELECT, PostgreSQL gives an untyped parameter (None, say) the
        # type of the column it goes to.
        return bindparam(name, type_=column.type)

    zone = select(ZoneTown.zone_code).where(ZoneTown.town_code == bindparam("town"))
    place = (
        update(_SLOTS)
        .where(
            s.zone_code == zone.scalar_subquery(),
            s.date == bindparam("date"),
            s.half_day == bindparam("half_day"),
            s.booked < s.capacity,
            ~exists().where(b.reference == bindparam("reference")),
            ~exists().where(
                b.id_hash == bindparam("id_hash"),
                b.item_code == bindparam("item_code"),
                # The partial index's rule in literals: with parameters a prepared plan
                # could not use that index.
                b.status.in_([literal_column(f"'{st.value}'") for st in ACTIVE]),
            ),
        )
        .values(booked=s.booked + 1)
        .returning(s.id, s.zone_code)
        .cte("place")
    )
    keys = [k for k in _BOOKING_KEYS if k not in {"slot_id", "zone_code"}]
    booking = (
        insert(_BOOKINGS)
        .from_select(
            ["slot_id", "zone_code", *keys],
            select(place.c.id, place.c.zone_code, *(value(b[k], k) for k in keys)),
        )
        .returning(b.id, b.slot_id, b.zone_code)
        .cte("booking")
    )
    event_keys = [k for k in _EVENT_KEYS if k != "booking_id"]
    event = (
        insert(_EVENTS)
        .from_select(
            ["booking_id", *event_keys],
            select(booking.c.id, *(value(_EVENTS.c[k], "event_" + k) for k in event_keys)),
        )
        .cte("event")
    )
    # PostgreSQL runs every data-modifying WITH clause, read or not.
    return select(booking.c.id, booking.c.slot_id, booking.c.zone_code).add_cte(event)


_BOOK_AT_ONCE = Prepared(_book_at_once_stmt())


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and through which channel: a resident on the web, staff, or the system."""

    kind: str  # resident | staff | system
    channel: str  # web | phone | window | system
    staff_id: int | None = None
    role: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind in {"staff", "system"}


RESIDENT_WEB = Actor("resident", "web")
SYSTEM = Actor("system", "system")


class BookingLike(Protocol):
    """What presenting a booking needs: a stored `Booking` or a `NewBooking`."""

    @property
    def reference(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def item_code(self) -> str: ...
    @property
    def town_code(self) -> str: ...
    @property
    def date(self) -> date: ...
    @property
    def half_day(self) -> str: ...
    @property
    def applicant_name_masked(self) -> str: ...
    @property
    def phone_masked(self) -> str: ...
    @property
    def needs_phone_check(self) -> bool: ...
    @property
    def window_start(self) -> datetime | None: ...
    @property
    def window_end(self) -> datetime | None: ...


# (lat, lon, datum, precision) of an address; how many BookingService keeps at most.
_Place = tuple[float | None, float | None, str | None, str | None]
MAX_PLACES_REMEMBERED = 4096
GEOCODER_RETRY_S = 60.0  # a place located while the geocoder was unavailable: ask again after


@dataclass(frozen=True, slots=True)
class NewBooking:
    """A booking as `create` wrote it: no ORM object is built on the hot path."""

    id: int
    reference: str
    status: str
    item_code: str
    town_code: str
    zone_code: str
    date: date
    half_day: str
    applicant_name_masked: str
    phone_masked: str
    needs_phone_check: bool
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Eligibility:
    rule: str
    needs_phone_check: bool


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


def utc_naive(moment: datetime) -> datetime:
    """Stored form of a moment: UTC without tzinfo (SQLite drops offsets)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def local_date(now: datetime) -> date:
    return now.astimezone(TZ).date()


class BookingService:
    """Booking rules over a catalog (items, offices, townships) and settings."""

    def __init__(
        self, catalog: Any, settings: BookingSettings, protector: Protector, geocoder: Any = None
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.protector = protector
        self.geocoder = geocoder
        # Places found, by (township, village), with the monotonic time they expire (None:
        # never): a county has a few hundred villages and a look-up costs some 20 µs.
        self._places: dict[tuple[str, str], tuple[_Place, float | None]] = {}
        self._clock = time.monotonic

    # -- dates -----------------------------------------------------------------------

    def cutoff_for(self, day: date) -> datetime:
        """The planning cut-off for a visit date: the configured time on the day before."""
        return datetime.combine(day - timedelta(days=1), self.settings.cutoff, tzinfo=TZ)

    def first_bookable(self, now: datetime) -> date:
        day = local_date(now) + timedelta(days=1)
        while now >= self.cutoff_for(day):
            day += timedelta(days=1)
        return day

    def last_bookable(self, now: datetime) -> date:
        return local_date(now) + timedelta(days=self.settings.horizon_days)

    def check_date(self, day: date, now: datetime, *, staff: bool = False) -> None:
        today = local_date(now)
        if day <= today and not (staff and day == today):
            raise InvalidField(
                "预约日期已过，请选择明天及以后的日期。", field="date", code="date_in_past"
            )
        if day > self.last_bookable(now):
            raise InvalidField(
                f"只能预约{self.settings.horizon_days}天以内的日期。",
                field="date",
                code="date_beyond_horizon",
            )
        if not staff and day < self.first_bookable(now):
            raise InvalidField(
                f"该日期已过排班截止时间（前一天{self.settings.cutoff:%H:%M}），请选择之后的日期。",
                field="date",
                code="date_after_cutoff",
            )

    # -- reference data --------------------------------------------------------------

    def item(self, code: str) -> Any:
        item = self.catalog.items.get(code)
        if item is None:
            raise InvalidField("没有这个办事事项。", field="item", code="unknown_item")
        return item

    def township(self, code: str) -> Any:
        town = self.catalog.townships.get(code)
        if town is None:
            if not code.startswith(self.catalog.site.county_code):
                raise InvalidField(
                    f"上门办理只在{self.catalog.site.county}范围内提供。",
                    field="address.town_code",
                    code="outside_county",
                )
            raise InvalidField(
                "没有这个乡镇（街道）。", field="address.town_code", code="unknown_township"
            )
        return town

    def zone_of(self, db: Db, town_code: str) -> str:
        zone = db.scalar(select(ZoneTown.zone_code).where(ZoneTown.town_code == town_code))
        if zone is None:
            raise InvalidField(
                "该乡镇（街道）暂未安排上门服务，请拨打12345咨询。",
                field="address.town_code",
                code="township_not_served",
            )
        return str(zone)

    def nearest_station(self, item: Any, town_code: str) -> dict[str, str] | None:
        """The office handling the item nearest to the township seat (stations first)."""
        town = self.catalog.townships.get(town_code)
        offices = list(self.catalog.offices_for(item))
        if not offices:
            return None
        if town is None:
            chosen = offices[0]
        else:
            chosen = min(
                offices,
                key=lambda o: (
                    o.kind.value == "hall",
                    _km(town.lat, town.lon, o.location.lat, o.location.lon) if o.location else 1e9,
                ),
            )
        return {
            "id": chosen.id,
            "name": chosen.name,
            "address": chosen.address,
            "phone": chosen.phone,
            "hours": chosen.hours,
        }

    # -- eligibility -----------------------------------------------------------------

    def eligibility(
        self, *, age: int, reason: str, disability_grade: int | None
    ) -> Eligibility | None:
        """The first configured rule the facts satisfy, or None."""
        for rule in self.settings.eligibility:
            ok = (
                (rule.kind == "age" and age >= (rule.min_age or 0))
                or (rule.kind == "disability" and disability_grade in rule.grades)
                or (rule.kind == "illness" and reason == "illness")
                or (rule.kind == "alone" and reason == "alone" and age >= (rule.min_age or 0))
                or (rule.kind == "other" and reason == "other")
            )
            if ok:
                return Eligibility(rule.kind, rule.needs_phone_check)
        return None

    def _ineligible_text(self) -> str:
        parts = []
        for rule in self.settings.eligibility:
            if rule.kind == "age":
                parts.append(f"{rule.min_age}周岁以上老人")
            elif rule.kind == "disability":
                grades = "、".join("一二三四"[g - 1] for g in rule.grades if 1 <= g <= 4)
                parts.append(f"{grades}级残疾人")
            elif rule.kind == "illness":
                parts.append("重病或卧床人员")
            elif rule.kind == "alone":
                parts.append(f"{rule.min_age}周岁以上独居老人")
            elif rule.kind == "other":
                parts.append("其他确有困难的人员")
        return "上门办理面向" + "、".join(parts) + "。根据所填信息，申请人暂不符合上门办理条件"

    # -- slots -----------------------------------------------------------------------

    def slots(
        self, session: Session, town_code: str, now: datetime, *, staff: bool = False
    ) -> list[SlotView]:
        self.township(town_code)
        zone = self.zone_of(session, town_code)
        first = local_date(now) if staff else self.first_bookable(now)
        rows = session.scalars(
            select(Slot)
            .where(
                Slot.zone_code == zone,
                Slot.date >= first,
                Slot.date <= self.last_bookable(now),
                Slot.capacity > 0,
            )
            .order_by(Slot.date, Slot.half_day)
        )
        return [
            SlotView(s.date, s.half_day, s.capacity, max(s.capacity - s.booked, 0)) for s in rows
        ]

    def alternatives(
        self, db: Db, zone: str, after: date, half_day: str, now: datetime
    ) -> list[SlotView]:
        """Half-days with room in the zone after the requested one, earliest first."""
        rows = db.execute(
            select(Slot.date, Slot.half_day, Slot.capacity, Slot.booked)
            .where(
                Slot.zone_code == zone,
                Slot.date >= self.first_bookable(now),
                Slot.date <= self.last_bookable(now),
                Slot.booked < Slot.capacity,
                or_(Slot.date > after, and_(Slot.date == after, Slot.half_day > half_day)),
            )
            .order_by(Slot.date, Slot.half_day)
            .limit(self.settings.alternatives)
        )
        return [SlotView(r.date, r.half_day, r.capacity, r.capacity - r.booked) for r in rows]

    def _take_place(
        self,
        db: Db,
        day: date,
        half_day: str,
        now: datetime,
        *,
        zone: str | None = None,
        town: str | None = None,
    ) -> tuple[int, str]:
        """Atomically take one place in the zone (given, or the township's); (slot id, zone).

        One conditional UPDATE: the `booked < capacity` clause is the guard against
        overbooking under any concurrency, on SQLite and PostgreSQL alike.
        """
        stmt = _TAKE_IN_ZONE if zone is not None else _TAKE_IN_TOWN
        params = {"zone_": zone, "town": town, "day_": day, "half": half_day}
        row = stmt.first(connection_of(db), params)
        if row is not None:
            return int(row[0]), str(row[1])
        if zone is None:
            assert town is not None
            zone = self.zone_of(db, town)  # raises when the township has no zone
        raise self._full(db, zone, day, half_day, now)

    def _full(self, db: Db, zone: str, day: date, half_day: str, now: datetime) -> SlotFull:
        """The answer to a request for a half-day without room: the next ones with room."""
        alts = self.alternatives(db, zone, day, half_day, now)
        return SlotFull(
            "所选时段已约满，请改选其他日期。" if alts else "近期上门名额已约满，请拨打12345登记。",
            field="date",
            extra={"alternatives": [a.as_dict() for a in alts]},
        )

    def _lock_slots_in_order(
        self, session: Session, booking: Booking, day: date, half_day: str
    ) -> None:
        """Lock the old and the new slot rows in id order before a move touches them.

        Two opposite moves (X→Y and Y→X) would otherwise lock the rows in opposite
        order and PostgreSQL would abort one as a deadlock. SQLite has one writer at a
        time and ignores FOR UPDATE.
        """
        target = select(Slot.id).where(
            Slot.zone_code == booking.zone_code, Slot.date == day, Slot.half_day == half_day
        )
        session.execute(
            select(Slot.id)
            .where(or_(Slot.id == booking.slot_id, Slot.id.in_(target.scalar_subquery())))
            .order_by(Slot.id)
            .with_for_update()
        ).all()

    def _release_place(self, db: Db, slot_id: int) -> None:
        db.execute(
            update(_SLOTS)
            .where(_SLOTS.c.id == slot_id, _SLOTS.c.booked > 0)
            .values(booked=_SLOTS.c.booked - 1)
        )

    # -- create ----------------------------------------------------------------------

    def create(
        self, db: Db, req: BookingRequest, *, now: datetime, actor: Actor = RESIDENT_WEB
    ) -> NewBooking:
        """Check and store a booking; what the answer shows of it (`by_reference` for more)."""
        today = local_date(now)
        item = self.item(req.item)
        self.township(req.address.town_code)
        try:
            idn = identity.parse_id_number(req.applicant.id_number, today=today)
        except identity.IdentityError as e:
            raise InvalidField(e.message_zh, field="applicant.id_number", code=e.code) from None
        phone = _phone(req.applicant.phone, "applicant.phone")
        booker_phone = _phone(req.booker.phone, "booker.phone") if req.booker else None
        name = _text(req.applicant.name, "applicant.name")
        village = req.address.village.strip()
        if any(ord(c) < 32 for c in village):  # NUL cannot even be stored on PostgreSQL
            raise InvalidField(
                "此项不能含控制字符。", field="address.village", code="invalid_field"
            )
        if req.reason == "disability" and req.disability_grade is None:
            raise InvalidField(
                "请选择残疾等级。", field="disability_grade", code="disability_grade_missing"
            )
        if req.reason != "disability" and req.disability_grade is not None:
            raise InvalidField(
                "只有以残疾为由预约时才填写残疾等级。",
                field="disability_grade",
                code="disability_grade_unexpected",
            )
        self.check_date(req.date, now, staff=actor.is_staff)
        if not item.home_visit.allowed:
            raise NotEligible(
                "该事项不提供上门办理，请到就近窗口办理。",
                field="item",
                code="item_not_home_visit",
                extra={"nearest_office": self.nearest_station(item, req.address.town_code)},
            )
        age = identity.age_on(idn.birth_date, today)
        elig = self.eligibility(age=age, reason=req.reason, disability_grade=req.disability_grade)
        if elig is None:
            office = self.nearest_station(item, req.address.town_code)
            where = f"，可就近到{office['name']}办理（{office['phone']}）。" if office else "。"
            raise NotEligible(
                self._ineligible_text() + where, field="reason", extra={"nearest_office": office}
            )
        # Everything below up to _take_place is CPU work: on SQLite it runs before the
        # write transaction begins, so the database lock is held as briefly as possible
        # (unless the caller began it already, as an Idempotency-Key claim does).
        id_hash = self.protector.keyed_hash(idn.value, purpose="id_number")
        lat, lon, datum, precision = self._locate(req.address.town_code, village)
        stamp = utc_naive(now)
        p, booker = self.protector, req.booker
        row: dict[str, Any] = {
            "item_code": item.code,
            "status": Status.PENDING.value,
            "channel": actor.channel,
            "created_by_staff_id": actor.staff_id,
            "applicant_name_enc": p.encrypt(name, field="applicant_name_enc"),
            "applicant_name_masked": identity.mask_name(name),
            "id_hash": id_hash,
            "id_masked": idn.masked,
            "age_band": identity.age_band(age),
            "age_at_booking": age,
            "phone_enc": p.encrypt(phone, field="phone_enc"),
            "phone_masked": identity.mask_phone(phone),
            "booker_kind": booker.kind if booker else "self",
            "booker_name_enc": p.encrypt(_text(booker.name, "booker.name"), field="booker_name_enc")
            if booker
            else None,
            "booker_name_masked": identity.mask_name(booker.name) if booker else None,
            "booker_relationship": _text(booker.relationship, "booker.relationship")
            if booker
            else None,
            "booker_phone_enc": p.encrypt(booker_phone, field="booker_phone_enc")
            if booker_phone
            else None,
            "booker_phone_masked": identity.mask_phone(booker_phone) if booker_phone else None,
            "town_code": req.address.town_code,
            "village": village,
            "address_detail_enc": p.encrypt(
                _text(req.address.detail, "address.detail"), field="address_detail_enc"
            ),
            "lat": lat,
            "lon": lon,
            "datum": datum,
            "geo_precision": precision,
            "reason": req.reason,
            "disability_grade": req.disability_grade,
            "eligible_by": elig.rule,
            "needs_phone_check": elig.needs_phone_check,
            "date": req.date,
            "half_day": req.half_day,
            "created_at": stamp,
            "updated_at": stamp,
        }
        event = self._event_row(
            "created", None, Status.PENDING, actor, now, f"{req.date} {req.half_day}"
        )
        # The hot path of the service: prepared statements on the connection, no ORM
        # unit of work, no savepoint.
        conn = connection_of(db)
        if conn.dialect.name == "postgresql":
            booking_id = self._insert_at_once(conn, row, event, now)
        else:
            booking_id = self._insert_in_steps(conn, row, event, now)
        log.info(
            "booking %s created channel=%s item=%s", row["reference"], actor.channel, item.code
        )
        return NewBooking(
            id=booking_id,
            reference=row["reference"],
            status=Status.PENDING,
            item_code=item.code,
            town_code=row["town_code"],
            zone_code=row["zone_code"],
            date=req.date,
            half_day=req.half_day,
            applicant_name_masked=row["applicant_name_masked"],
            phone_masked=row["phone_masked"],
            needs_phone_check=elig.needs_phone_check,
        )

    def _insert_in_steps(
        self, conn: Connection, row: dict[str, Any], event: dict[str, Any], now: datetime
    ) -> int:
        """Take a place, insert the booking (ON CONFLICT DO NOTHING), then its event;
        `row` gets the slot, zone and reference. Run in the caller's transaction."""
        row["slot_id"], row["zone_code"] = self._take_place(
            conn, row["date"], row["half_day"], now, town=row["town_code"]
        )
        insert_booking = _INSERT_BOOKING[conn.dialect.name]
        for _attempt in range(5):
            row["reference"] = identity.new_reference()
            inserted = insert_booking.first(conn, row)
            if inserted is not None:
                event["booking_id"] = int(inserted[0])
                _INSERT_EVENT.first(conn, event)
                return int(inserted[0])
            # A unique rule held: the partial index (one active booking per person and
            # item) or, once in a trillion, the reference; only the first is the caller's.
            if self._active_duplicate(conn, row["id_hash"], row["item_code"]):
                self._release_place(conn, row["slot_id"])
                raise _duplicate()
        raise RuntimeError("could not allocate a unique reference")  # pragma: no cover

    def _insert_at_once(
        self, conn: Connection, row: dict[str, Any], event: dict[str, Any], now: datetime
    ) -> int:
        """PostgreSQL: `_BOOK_AT_ONCE`, one statement; `row` gets the slot, zone and
        reference. When nothing was taken, say why, in the order `_insert_in_steps`
        finds it: no room, then a duplicate; else the reference was in use, try another.
        """
        params = {**row, "town": row["town_code"]}
        params.update({"event_" + k: v for k, v in event.items()})
        for _attempt in range(5):
            row["reference"] = params["reference"] = identity.new_reference()
            try:
                got = _BOOK_AT_ONCE.first(conn, params)
            except IntegrityError as err:
                # Two requests at the same moment both passed a NOT EXISTS: a unique
                # index stopped the second and its statement, place included, was undone.
                # A transaction around it is aborted (the caller rolls it back, as after
                # any error); in autocommit a clash of references can simply try again.
                violated = violated_constraint(err)
                if violated == ONE_ACTIVE_PER_PERSON_ITEM:
                    raise _duplicate() from None
                autocommit = getattr(conn.connection.driver_connection, "autocommit", False)
                if violated == _UNIQUE_REFERENCE and autocommit:
                    continue  # another booking took the same reference at the same moment
                raise
            if got is not None:
                row["slot_id"], row["zone_code"] = int(got[1]), str(got[2])
                return int(got[0])
            zone = self.zone_of(conn, row["town_code"])  # raises when the township has none
            if not self._has_room(conn, zone, row["date"], row["half_day"]):
                raise self._full(conn, zone, row["date"], row["half_day"], now)
            if self._active_duplicate(conn, row["id_hash"], row["item_code"]):
                raise _duplicate()
        raise RuntimeError("could not allocate a unique reference")  # pragma: no cover

    def _has_room(self, db: Db, zone: str, day: date, half_day: str) -> bool:
        return (
            db.scalar(
                select(Slot.id).where(
                    Slot.zone_code == zone,
                    Slot.date == day,
                    Slot.half_day == half_day,
                    Slot.booked < Slot.capacity,
                )
            )
            is not None
        )

    def _active_duplicate(self, db: Db, id_hash: str, item_code: str) -> bool:
        return (
            db.scalar(
                select(func.count())
                .select_from(Booking)
                .where(
                    Booking.id_hash == id_hash,
                    Booking.item_code == item_code,
                    Booking.status.in_(ACTIVE),
                )
            )
            or 0
        ) > 0

    def _locate(self, town_code: str, village: str) -> _Place:
        """Where the address is: the village, else the township seat. Remembered; when
        the geocoder was unavailable (an online one failing), the fallback only for
        GEOCODER_RETRY_S, so that it neither outlives the outage nor sends every booking
        of the outage to the failing service again."""
        key = (town_code, village)
        now = self._clock()
        remembered = self._places.get(key)
        if remembered is not None and (remembered[1] is None or now < remembered[1]):
            return remembered[0]
        found, lasting = self._find_place(town_code, village)
        if len(self._places) >= MAX_PLACES_REMEMBERED:
            self._places.clear()
        self._places[key] = (found, None if lasting else now + GEOCODER_RETRY_S)
        return found

    def _find_place(self, town_code: str, village: str) -> tuple[_Place, bool]:
        lasting = True
        if self.geocoder is not None:
            from routing.geocode import AddressQuery, GeocodeError, GeocoderUnavailableError

            for query in (
                AddressQuery(township=town_code, village=village),
                AddressQuery(township=town_code),
            ):
                try:
                    res = self.geocoder.geocode(query)
                except GeocodeError as err:
                    lasting = lasting and not isinstance(err, GeocoderUnavailableError)
                    continue
                return (res.point.lat, res.point.lon, "WGS-84", str(res.precision)), lasting
        town = self.catalog.townships.get(town_code)
        if town is None:
            return (None, None, None, None), lasting
        return (town.lat, town.lon, "GCJ-02", "township"), lasting

    # -- find ------------------------------------------------------------------------

    def by_reference(self, session: Session, reference: str) -> Booking:
        ref = identity.normalize_reference(reference)
        booking = session.scalar(select(Booking).where(Booking.reference == ref)) if ref else None
        if booking is None:
            raise _not_found()
        return booking

    def lookup(
        self, session: Session, reference: str, phone_last4: str, *, now: datetime
    ) -> Booking:
        """A resident's own booking; a wrong phone suffix looks just like an unknown
        reference (`WrongPhoneSuffix` is a `NotFound`; the caller counts it with
        `count_failed_lookup`). A reference with too many recent failures is locked."""
        ref = identity.normalize_reference(reference)
        booking = session.scalar(select(Booking).where(Booking.reference == ref)) if ref else None
        expected = booking.phone_masked[-4:] if booking is not None else "0000"
        right = hmac.compare_digest(expected.encode(), phone_last4.encode())
        if booking is None:
            raise _not_found()
        if self._lookup_locked(booking, now):
            minutes = self.settings.lookup_lockout_minutes
            raise LookupLocked(
                f"该预约号的手机号后四位已输错多次，{minutes}分钟内暂停查询和修改；"
                "如需帮助请拨打12345，由工作人员核实身份后办理。"
            )
        if not right:
            raise WrongPhoneSuffix(booking.id)
        return booking

    def _lookup_locked(self, booking: Booking, now: datetime) -> bool:
        last = booking.lookup_failed_at
        return (
            last is not None
            and booking.lookup_failures >= self.settings.lookup_failures_allowed
            and last > utc_naive(now) - timedelta(minutes=self.settings.lookup_lockout_minutes)
        )

    def count_failed_lookup(self, db: Db, booking_id: int, *, now: datetime) -> None:
        """One more look-up with a wrong phone suffix; failures older than the lock-out
        window before it are forgotten."""
        stamp = utc_naive(now)
        since = stamp - timedelta(minutes=self.settings.lookup_lockout_minutes)
        b = _BOOKINGS.c
        db.execute(
            update(_BOOKINGS)
            .where(b.id == booking_id)
            .values(
                lookup_failures=case(
                    (or_(b.lookup_failed_at.is_(None), b.lookup_failed_at <= since), 1),
                    else_=b.lookup_failures + 1,
                ),
                lookup_failed_at=stamp,
            )
        )

    def search(self, session: Session, text: str, *, limit: int = 50) -> list[Booking]:
        """Staff search: a reference, a full mobile number or its masked form (138****1234)."""
        text = text.strip()
        if not text.isprintable():  # control characters match nothing (NUL breaks PostgreSQL)
            return []
        q = select(Booking).order_by(Booking.date.desc(), Booking.id.desc()).limit(limit)
        ref = identity.normalize_reference(text)
        if ref is not None and not text.isdigit():
            return list(session.scalars(q.where(Booking.reference == ref)))
        digits = text.replace(" ", "").replace("-", "")
        masked: str | None
        try:
            masked = identity.mask_phone(identity.normalize_mobile(digits))
        except identity.IdentityError:
            masked = digits if len(digits) == 11 and digits[3:7] == "****" else None
        if masked is None:
            return []
        return list(
            session.scalars(
                q.where(or_(Booking.phone_masked == masked, Booking.booker_phone_masked == masked))
            )
        )

    # -- changes ---------------------------------------------------------------------

    def can_change(
        self, booking: BookingLike, now: datetime, cutoff: datetime | None = None
    ) -> bool:
        """Whether the resident may still cancel or move it (before the day's cut-off,
        `cutoff_for(booking.date)`, which a caller that has it can pass)."""
        if booking.status not in (Status.PENDING, Status.CONFIRMED):
            return False
        return now < (cutoff or self.cutoff_for(booking.date))

    def _reload_locked(self, session: Session, booking: Booking) -> None:
        """Re-read the booking's row under a row lock before changing it.

        Under READ COMMITTED (PostgreSQL) two requests can both read 'pending' and both
        cancel, giving the place back twice; the locked re-read makes the second one see
        the first one's committed change. SQLite writers are serialised already.
        """
        session.refresh(booking, with_for_update=True)

    def cancel(self, session: Session, booking: Booking, *, now: datetime, actor: Actor) -> Booking:
        self._reload_locked(session, booking)
        if booking.status not in ACTIVE:
            raise Conflict("该预约已结束或已取消，不能再取消。", code="not_cancellable")
        if not actor.is_staff and not self.can_change(booking, now):
            raise Conflict(self._too_late(booking), code="past_cutoff")
        before = booking.status
        self._release_place(session, booking.slot_id)
        booking.status = Status.CANCELLED
        booking.window_start = booking.window_end = None
        booking.assigned_clerk_id = None
        booking.updated_at = utc_naive(now)
        self._event(session, booking, "cancelled", before, Status.CANCELLED, actor, now)
        return booking

    def move(
        self,
        session: Session,
        booking: Booking,
        day: date,
        half_day: str,
        *,
        now: datetime,
        actor: Actor,
    ) -> Booking:
        self._reload_locked(session, booking)
        if booking.status not in ACTIVE:
            raise Conflict("该预约已结束或已取消，不能改期。", code="not_movable")
        if not actor.is_staff and not self.can_change(booking, now):
            raise Conflict(self._too_late(booking), code="past_cutoff")
        if (day, half_day) == (booking.date, booking.half_day):
            raise InvalidField("新时段与原时段相同。", field="date", code="same_slot")
        self.check_date(day, now, staff=actor.is_staff)
        self._lock_slots_in_order(session, booking, day, half_day)
        new_slot, _ = self._take_place(session, day, half_day, now, zone=booking.zone_code)
        self._release_place(session, booking.slot_id)
        before = booking.status
        detail = f"{booking.date} {booking.half_day} -> {day} {half_day}"
        booking.slot_id, booking.date, booking.half_day = new_slot, day, half_day
        if booking.status == Status.SCHEDULED:
            # The plan for the old day no longer holds: back to confirmed, to be planned again.
            booking.status = Status.CONFIRMED
            booking.window_start = booking.window_end = None
            booking.assigned_clerk_id = None
        booking.updated_at = utc_naive(now)
        self._event(session, booking, "moved", before, Status(booking.status), actor, now, detail)
        return booking

    def confirm(
        self, session: Session, booking: Booking, *, now: datetime, actor: Actor
    ) -> Booking:
        _need_staff(actor)
        return self._transition(
            session, booking, (Status.PENDING,), Status.CONFIRMED, "confirmed", actor, now
        )

    def schedule(
        self,
        session: Session,
        booking: Booking,
        *,
        clerk_id: int,
        start: datetime,
        end: datetime,
        now: datetime,
        actor: Actor,
    ) -> Booking:
        """Planned: a clerk and a time window (aware datetimes) on the booking's date."""
        _need_staff(actor)
        if not start < end or start.astimezone(TZ).date() != booking.date:
            raise InvalidField(
                "上门时间窗应在预约当天且开始早于结束。", field="window", code="bad_window"
            )
        self._transition(
            session, booking, (Status.CONFIRMED,), Status.SCHEDULED, "scheduled", actor, now
        )
        booking.assigned_clerk_id = clerk_id
        booking.window_start, booking.window_end = utc_naive(start), utc_naive(end)
        return booking

    def finish(
        self, session: Session, booking: Booking, outcome: Status, *, now: datetime, actor: Actor
    ) -> Booking:
        _need_staff(actor)
        if outcome not in (Status.DONE, Status.MISSED):
            raise InvalidField("结果只能是已办结或未遇。", field="outcome", code="bad_outcome")
        return self._transition(
            session, booking, (Status.SCHEDULED,), outcome, outcome.value, actor, now
        )

    def _transition(
        self,
        session: Session,
        booking: Booking,
        allowed: tuple[Status, ...],
        to: Status,
        action: str,
        actor: Actor,
        now: datetime,
    ) -> Booking:
        self._reload_locked(session, booking)
        if booking.status not in allowed:
            raise Conflict(
                f"当前状态为「{STATUS_ZH[Status(booking.status)]}」，不能改为「{STATUS_ZH[to]}」。",
                code="bad_transition",
            )
        before = booking.status
        booking.status = to
        booking.updated_at = utc_naive(now)
        self._event(session, booking, action, before, to, actor, now)
        return booking

    def _too_late(self, booking: Booking) -> str:
        if booking.status == Status.SCHEDULED:
            return "已排班的预约请致电窗口或12345取消、改期。"
        return (
            f"已过排班截止时间（{self.cutoff_for(booking.date):%m月%d日 %H:%M}），"
            "如需取消或改期请致电窗口或12345。"
        )

    def _event_row(
        self,
        action: str,
        before: str | None,
        after: str,
        actor: Actor,
        now: datetime,
        detail: str = "",
    ) -> dict[str, Any]:
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

    def _event(
        self,
        session: Session,
        booking: Booking,
        action: str,
        before: str | None,
        after: str,
        actor: Actor,
        now: datetime,
        detail: str = "",
    ) -> None:
        row = self._event_row(action, before, after, actor, now, detail)
        session.add(BookingEvent(booking_id=booking.id, **row))
        session.flush()

    # -- presentation ----------------------------------------------------------------

    def next_steps(self, booking: BookingLike, cutoff: datetime | None = None) -> str:
        status = Status(booking.status)
        if status == Status.PENDING:
            extra = "并核实身体状况" if booking.needs_phone_check else ""
            return (
                f"工作人员将在1个工作日内致电核对信息{extra}，确认后状态变为「已确认」。"
                "上门前一天下午会排好具体时间。"
                f"{cutoff or self.cutoff_for(booking.date):%m月%d日 %H:%M}前"
                "可凭预约号和手机尾号自行取消或改期。"
                "请准备好身份证、户口簿和办事指南所列材料。"
            )
        if status == Status.CONFIRMED:
            return "预约已确认。上门前一天下午会排好具体时间，请保持电话畅通并准备好材料。"
        if status == Status.SCHEDULED:
            return "已排好上门时间，工作人员会在时间窗内上门，请在家等候并准备好材料。"
        if status == Status.DONE:
            return "已上门办结，办理结果将按办事指南所列方式送达。"
        if status == Status.MISSED:
            return "工作人员上门时未遇到申请人，请拨打12345重新预约。"
        return "预约已取消。如仍需办理，可重新预约。"

    def to_dict(self, booking: BookingLike, now: datetime) -> dict[str, Any]:
        item = self.catalog.items.get(booking.item_code)
        town = self.catalog.townships.get(booking.town_code)
        cutoff = self.cutoff_for(booking.date)
        window = None
        if booking.status == Status.SCHEDULED and booking.window_start and booking.window_end:
            window = {
                "start": to_local(booking.window_start).isoformat(),
                "end": to_local(booking.window_end).isoformat(),
            }
        return {
            "reference": booking.reference,
            "status": booking.status,
            "status_name": STATUS_ZH[Status(booking.status)],
            "item": booking.item_code,
            "item_name": item.name if item else booking.item_code,
            "date": booking.date.isoformat(),
            "half_day": booking.half_day,
            "half_day_name": HALF_DAY_ZH[booking.half_day],
            "applicant_name": booking.applicant_name_masked,
            "phone": booking.phone_masked,
            "town_code": booking.town_code,
            "town_name": town.name if town else booking.town_code,
            "window": window,
            "needs_phone_check": booking.needs_phone_check,
            "can_change": self.can_change(booking, now, cutoff),
            "change_until": cutoff.isoformat(),
            "next_steps": self.next_steps(booking, cutoff),
        }


PURGED = "已删除"


def purge_finished(session: Session, *, now: datetime, older_than_days: int) -> int:
    """Erase personal data of bookings finished or cancelled more than N days ago.

    PIPL Arts. 19 and 47: keep personal information only as long as the purpose needs.
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
    shift = Shift(clerk_id=clerk_id, zone_code=zone, date=day, half_day=half_day)
    session.add(shift)
    session.flush()
    sync_capacity(session, zone, day, half_day, per_clerk)
    return shift


def ensure_zones(session: Session, zones: Any) -> None:
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


def _need_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("只有工作人员可以进行此操作。")


def _phone(raw: str, field: str) -> str:
    try:
        return identity.normalize_mobile(raw)
    except identity.IdentityError as e:
        raise InvalidField(e.message_zh, field=field, code=e.code) from None


def _text(raw: str, field: str) -> str:
    text = " ".join(raw.split())
    if not text or any(ord(c) < 32 for c in raw):
        raise InvalidField("此项不能为空，也不能含控制字符。", field=field, code="blank")
    return text


def _duplicate() -> Conflict:
    return Conflict(
        "该申请人已有同一事项的有效预约，请勿重复预约；如需改期请用原预约号操作。",
        code="duplicate_booking",
    )


class WrongPhoneSuffix(NotFound):
    """A look-up of an existing booking with the wrong phone suffix: answered exactly
    like an unknown reference, and counted by the caller (`count_failed_lookup`)."""

    def __init__(self, booking_id: int) -> None:
        super().__init__(_NOT_FOUND_ZH)
        self.booking_id = booking_id


_NOT_FOUND_ZH = "没有找到该预约，请核对预约号和手机号后四位。"


def _not_found() -> NotFound:
    return NotFound(_NOT_FOUND_ZH)


def to_local(stored: datetime) -> datetime:
    return stored.replace(tzinfo=UTC).astimezone(TZ)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    rlat1, rlat2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = rlat2 - rlat1, math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(rlat1) * math.cos(rlat2) * math.sin(dlon / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
