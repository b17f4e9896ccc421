"""The operations on a booking: create, cancel, move, confirm, schedule, finish.

Each takes the service (catalog, settings, keys), a Session or Connection, `now` (aware
UTC) and the acting person; none commits.

Creating runs one statement on PostgreSQL: the guarded UPDATE that takes a place, in a
`WITH` clause that the booking INSERT and then the event INSERT read from. A statement
is atomic by itself, so the API runs it in autocommit (one round trip). On SQLite, and
for an item whose skill the capacity rule bounds (`BookingService.one_statement`), the
same steps run as statements in the caller's transaction, the skill counted while the
slot row is locked.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guide.dates import date_text
from scheduler import identity
from scheduler.booking import audit, capacity, eligibility
from scheduler.booking.audit import RESIDENT_WEB, Actor, need_staff
from scheduler.booking.capacity import Db
from scheduler.booking.dates import (
    check_date,
    cutoff_for,
    half_day_bounds,
    local_date,
    utc_naive,
)
from scheduler.booking.intake import check_request
from scheduler.errors import Conflict, InvalidField
from scheduler.models import (
    ACTIVE,
    ONE_ACTIVE_PER_PERSON_ITEM,
    STATUS_ZH,
    Booking,
    BookingEvent,
    Slot,
    Status,
    ZoneTown,
)
from scheduler.schemas import BookingRequest

if TYPE_CHECKING:
    from scheduler.booking.service import BookingService

log = logging.getLogger(__name__)
BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
EVENTS: Table = BookingEvent.__table__  # type: ignore[assignment]
SLOTS: Table = Slot.__table__  # type: ignore[assignment]
UNIQUE_REFERENCE = "bookings_reference_key"  # PostgreSQL's name for the unique constraint
# Columns a new booking leaves at their defaults (NULL, 0): set by planning or look-ups.
_SET_LATER = {
    "id",
    "window_start",
    "window_end",
    "assigned_clerk_id",
    "lookup_failures",
    "lookup_failed_at",
}
BOOKING_KEYS = tuple(c.key for c in BOOKINGS.columns if c.key not in _SET_LATER)
EVENT_KEYS = tuple(c.key for c in EVENTS.columns if c.key != "id")
# Inserting in steps: a booking that breaks a unique rule inserts nothing and returns no
# id (no savepoint, no IntegrityError to recover from). Without a conflict target this
# covers every unique index, the partial one included, in both dialects.
_INSERT_BOOKING = {
    "sqlite": sqlite.insert(BOOKINGS).on_conflict_do_nothing().returning(BOOKINGS.c.id),
    "postgresql": postgresql.insert(BOOKINGS).on_conflict_do_nothing().returning(BOOKINGS.c.id),
}
_INSERT_EVENT = insert(EVENTS)


def _book_at_once_statement() -> Any:
    """PostgreSQL: take a place, insert the booking and its "created" event, one statement.

    The same guard as `capacity.take_place` (`booked < capacity` in one UPDATE), with two
    more conditions so that nothing is taken for a booking that could not be inserted:
    no active booking of the person for the item, and the reference not in use.
    Parameters: the booking's columns prefixed "b_", the event's prefixed "event_", and
    "town_". (A parameter named like a column of `slots` would become a SET clause of
    the UPDATE inside: SQLAlchemy reads execution parameters as values to set.)
    """
    b, s = BOOKINGS.c, SLOTS.c

    def value(column: Any, name: str) -> Any:
        # In INSERT … SELECT, PostgreSQL gives an untyped parameter (None, say) the
        # type of the column it goes to.
        return bindparam(name, type_=column.type)

    zone = select(ZoneTown.zone_code).where(ZoneTown.town_code == bindparam("town_"))
    place = (
        update(SLOTS)
        .where(
            s.zone_code == zone.scalar_subquery(),
            s.date == bindparam("b_date"),
            s.half_day == bindparam("b_half_day"),
            s.booked < s.capacity,
            ~exists().where(b.reference == bindparam("b_reference")),
            ~exists().where(
                b.id_hash == bindparam("b_id_hash"),
                b.item_code == bindparam("b_item_code"),
                # The partial index's rule in literals, so the planner can use that index.
                b.status.in_([literal_column(f"'{st.value}'") for st in ACTIVE]),
            ),
        )
        .values(booked=s.booked + 1)
        .returning(s.id, s.zone_code)
        .cte("place")
    )
    keys = [k for k in BOOKING_KEYS if k not in {"slot_id", "zone_code"}]
    booking = (
        insert(BOOKINGS)
        .from_select(
            ["slot_id", "zone_code", *keys],
            select(place.c.id, place.c.zone_code, *(value(b[k], "b_" + k) for k in keys)),
        )
        .returning(b.id, b.slot_id, b.zone_code)
        .cte("booking")
    )
    event_keys = [k for k in EVENT_KEYS if k != "booking_id"]
    event = (
        insert(EVENTS)
        .from_select(
            ["booking_id", *event_keys],
            select(booking.c.id, *(value(EVENTS.c[k], "event_" + k) for k in event_keys)),
        )
        .cte("event")
    )
    # PostgreSQL runs every data-modifying WITH clause, read or not.
    return select(booking.c.id, booking.c.slot_id, booking.c.zone_code).add_cte(event)


BOOK_AT_ONCE = _book_at_once_statement()


def duplicate() -> Conflict:
    return Conflict(
        "该申请人已有同一事项的有效预约，请勿重复预约；如需改期请用原预约号操作。",
        code="duplicate_booking",
    )


def create(
    svc: BookingService, db: Db, req: BookingRequest, *, now: datetime, actor: Actor = RESIDENT_WEB
) -> Booking:
    """Check and store a booking. On a Connection (the API) the Booking returned is not
    attached to a session; it carries every stored column."""
    today = local_date(now)
    item = eligibility.item(svc.catalog, req.item)
    eligibility.township(svc.catalog, req.address.town_code)
    intake = check_request(req, today=today)
    check_date(svc.settings, req.date, now, staff=actor.is_staff)
    elig = eligibility.require_eligible(
        svc.catalog,
        svc.settings,
        item,
        req.address.town_code,
        age=intake.age,
        reason=req.reason,
        disability_grade=req.disability_grade,
    )
    # Everything up to the first statement is CPU work: on SQLite it runs before the
    # write transaction begins, so the database lock is held as briefly as possible.
    lat, lon, datum, precision = svc.places.locate(req.address.town_code, intake.village)
    stamp = utc_naive(now)
    p = svc.protector
    row: dict[str, Any] = {
        "item_code": item.code,
        "status": Status.PENDING.value,
        "channel": actor.channel,
        "created_by_staff_id": actor.staff_id,
        "applicant_name_enc": p.encrypt(intake.name, field="applicant_name_enc"),
        "applicant_name_masked": identity.mask_name(intake.name),
        "id_hash": p.keyed_hash(intake.id_number.value, purpose="id_number"),
        "id_masked": intake.id_number.masked,
        "age_band": identity.age_band(intake.age),
        "phone_enc": p.encrypt(intake.phone, field="phone_enc"),
        "phone_masked": identity.mask_phone(intake.phone),
        "booker_kind": req.booker.kind if req.booker else "self",
        "booker_name_enc": p.encrypt(intake.booker_name, field="booker_name_enc")
        if intake.booker_name is not None
        else None,
        "booker_name_masked": identity.mask_name(intake.booker_name)
        if intake.booker_name is not None
        else None,
        "booker_relationship": intake.booker_relationship,
        "booker_phone_enc": p.encrypt(intake.booker_phone, field="booker_phone_enc")
        if intake.booker_phone
        else None,
        "booker_phone_masked": identity.mask_phone(intake.booker_phone)
        if intake.booker_phone
        else None,
        "town_code": req.address.town_code,
        "village": intake.village,
        "address_detail_enc": p.encrypt(intake.detail, field="address_detail_enc"),
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
    event = audit.event_row(
        "created", None, Status.PENDING, actor, now, f"{req.date} {req.half_day}"
    )
    conn = _connection_of(db)
    need = svc.need(item.code)
    if conn.dialect.name == "postgresql" and need is None:
        booking_id = _insert_at_once(svc, conn, row, event, now)
    else:
        booking_id = _insert_in_steps(svc, conn, row, event, now, need)
    log.info("booking %s created channel=%s item=%s", row["reference"], actor.channel, item.code)
    return Booking(id=booking_id, lookup_failures=0, **row)


def _connection_of(db: Db) -> Connection:
    """The connection to run Core statements on; a session's pending changes are
    flushed first, as its own execute() would."""
    if isinstance(db, Session):
        db.flush()
        return db.connection()
    return db


def _insert_in_steps(
    svc: BookingService,
    conn: Connection,
    row: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
    need: capacity.SkillNeed | None,
) -> int:
    """Take a place (with room for the skill, given a need), insert the booking (ON
    CONFLICT DO NOTHING), then its event; `row` gets the slot, zone and reference. Run in
    the caller's transaction."""
    row["slot_id"], row["zone_code"] = capacity.take_place(
        conn, svc.settings, row["date"], row["half_day"], now, town=row["town_code"], need=need
    )
    for _attempt in range(5):
        row["reference"] = identity.new_reference()
        inserted = conn.execute(_INSERT_BOOKING[conn.dialect.name], row).first()
        if inserted is not None:
            booking_id = int(inserted[0])
            conn.execute(_INSERT_EVENT, {**event, "booking_id": booking_id})
            return booking_id
        # A unique rule held: the partial index (one active booking per person and
        # item) or, once in a trillion, the reference; only the first is the caller's.
        if active_duplicate(conn, row["id_hash"], row["item_code"]):
            capacity.release_place(conn, row["slot_id"])
            raise duplicate()
    raise RuntimeError("could not allocate a unique reference")  # pragma: no cover


def _insert_at_once(
    svc: BookingService, conn: Connection, row: dict[str, Any], event: dict[str, Any], now: datetime
) -> int:
    """PostgreSQL: `BOOK_AT_ONCE`; `row` gets the slot, zone and reference. When nothing
    was taken, say why, in the order `_insert_in_steps` finds it: no room, then a
    duplicate; else the reference was in use, so try another."""
    params = {"b_" + k: v for k, v in row.items()}
    params["town_"] = row["town_code"]
    params.update({"event_" + k: v for k, v in event.items()})
    for _attempt in range(5):
        row["reference"] = params["b_reference"] = identity.new_reference()
        try:
            got = conn.execute(BOOK_AT_ONCE, params).first()
        except IntegrityError as err:
            # Two requests at the same moment both passed a NOT EXISTS: a unique index
            # stopped the second, and its statement, place included, was undone. A
            # transaction around it is aborted (the caller rolls it back); in
            # autocommit a clash of references can simply try again.
            violated = violated_constraint(err)
            if violated == ONE_ACTIVE_PER_PERSON_ITEM:
                raise duplicate() from None
            autocommit = getattr(conn.connection.driver_connection, "autocommit", False)
            if violated == UNIQUE_REFERENCE and autocommit:
                continue
            raise
        if got is not None:
            row["slot_id"], row["zone_code"] = int(got[1]), str(got[2])
            return int(got[0])
        zone = capacity.zone_of(conn, row["town_code"])  # raises when the township has none
        if not capacity.has_room(conn, zone, row["date"], row["half_day"]):
            raise capacity.full(conn, svc.settings, zone, row["date"], row["half_day"], now)
        if active_duplicate(conn, row["id_hash"], row["item_code"]):
            raise duplicate()
    raise RuntimeError("could not allocate a unique reference")  # pragma: no cover


def violated_constraint(err: IntegrityError) -> str | None:
    """The constraint or unique index PostgreSQL reports broken (psycopg's `diag`)."""
    diag = getattr(err.orig, "diag", None)
    return getattr(diag, "constraint_name", None) if diag is not None else None


def active_duplicate(db: Db, id_hash: str, item_code: str) -> bool:
    count = db.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.id_hash == id_hash,
            Booking.item_code == item_code,
            Booking.status.in_(ACTIVE),
        )
    )
    return bool(count)


# -- changes ---------------------------------------------------------------------------


def can_change(
    svc: BookingService, booking: Booking, now: datetime, cutoff: datetime | None = None
) -> bool:
    """Whether the resident may still cancel or move it (before the day's cut-off)."""
    if booking.status not in (Status.PENDING, Status.CONFIRMED):
        return False
    return now < (cutoff or cutoff_for(svc.settings, booking.date))


def _reload_locked(session: Session, booking: Booking) -> None:
    """Re-read the booking's row under a row lock before changing it.

    Under READ COMMITTED (PostgreSQL) two requests can both read 'pending' and both
    cancel, giving the place back twice; the locked re-read makes the second one see
    the first one's committed change. SQLite writers are serialised already.
    """
    session.refresh(booking, with_for_update=True)


def _too_late(svc: BookingService, booking: Booking) -> str:
    if booking.status == Status.SCHEDULED:
        return "已排班的预约请致电窗口或12345取消、改期。"
    cutoff = cutoff_for(svc.settings, booking.date)  # local time
    return (
        f"已过排班截止时间（{date_text(cutoff.date())} {cutoff:%H:%M}），"
        "如需取消或改期请致电窗口或12345。"
    )


def cancel(
    svc: BookingService, session: Session, booking: Booking, *, now: datetime, actor: Actor
) -> Booking:
    """Cancel and give the place back; a resident only before the cut-off."""
    _reload_locked(session, booking)
    if booking.status not in ACTIVE:
        raise Conflict("该预约已结束或已取消，不能再取消。", code="not_cancellable")
    if not actor.is_staff and not can_change(svc, booking, now):
        raise Conflict(_too_late(svc, booking), code="past_cutoff")
    before = booking.status
    capacity.release_place(session, booking.slot_id)
    booking.status = Status.CANCELLED
    booking.window_start = booking.window_end = None
    booking.assigned_clerk_id = None
    booking.updated_at = utc_naive(now)
    audit.record(session, booking, "cancelled", before, Status.CANCELLED, actor, now)
    return booking


def move(
    svc: BookingService,
    session: Session,
    booking: Booking,
    day: date,
    half_day: str,
    *,
    now: datetime,
    actor: Actor,
) -> Booking:
    """Move to another half-day with room; a scheduled booking goes back to confirmed."""
    _reload_locked(session, booking)
    if booking.status not in ACTIVE:
        raise Conflict("该预约已结束或已取消，不能改期。", code="not_movable")
    if not actor.is_staff and not can_change(svc, booking, now):
        raise Conflict(_too_late(svc, booking), code="past_cutoff")
    if (day, half_day) == (booking.date, booking.half_day):
        raise InvalidField("新时段与原时段相同。", field="date", code="same_slot")
    check_date(svc.settings, day, now, staff=actor.is_staff)
    capacity.lock_slots_in_order(session, booking.zone_code, booking.slot_id, day, half_day)
    new_slot, _ = capacity.take_place(
        session,
        svc.settings,
        day,
        half_day,
        now,
        zone=booking.zone_code,
        need=svc.need(booking.item_code),
    )
    capacity.release_place(session, booking.slot_id)
    before = booking.status
    detail = f"{booking.date} {booking.half_day} -> {day} {half_day}"
    booking.slot_id, booking.date, booking.half_day = new_slot, day, half_day
    if booking.status == Status.SCHEDULED:
        # The plan for the old day no longer holds: back to confirmed, to be planned again.
        booking.status = Status.CONFIRMED
        booking.window_start = booking.window_end = None
        booking.assigned_clerk_id = None
    booking.updated_at = utc_naive(now)
    audit.record(session, booking, "moved", before, Status(booking.status), actor, now, detail)
    return booking


def confirm(
    svc: BookingService, session: Session, booking: Booking, *, now: datetime, actor: Actor
) -> Booking:
    """Staff confirm a pending booking (after their phone call)."""
    need_staff(actor)
    return _transition(
        session, booking, (Status.PENDING,), Status.CONFIRMED, "confirmed", actor, now
    )


def schedule(
    svc: BookingService,
    session: Session,
    booking: Booking,
    *,
    clerk_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    actor: Actor,
) -> Booking:
    """Planned: a clerk on shift in the booking's zone and half-day, and a time window
    (aware datetimes) inside that half-day's visit hours."""
    need_staff(actor)
    low, high = half_day_bounds(svc.settings, booking.date, booking.half_day)
    if not (low <= start < end <= high):
        raise InvalidField(
            f"上门时间窗应在预约的{date_text(booking.date, booking.half_day)}"
            f"（{low:%H:%M}—{high:%H:%M}）之内，且开始早于结束。",
            field="window",
            code="bad_window",
        )
    if not capacity.on_shift(session, clerk_id, booking.zone_code, booking.date, booking.half_day):
        raise InvalidField(
            "该上门人员在这个半天没有排在本片区，请选择当班人员。",
            field="clerk_id",
            code="clerk_not_on_shift",
        )
    _transition(session, booking, (Status.CONFIRMED,), Status.SCHEDULED, "scheduled", actor, now)
    booking.assigned_clerk_id = clerk_id
    booking.window_start, booking.window_end = utc_naive(start), utc_naive(end)
    return booking


def finish(
    svc: BookingService,
    session: Session,
    booking: Booking,
    outcome: Status,
    *,
    now: datetime,
    actor: Actor,
) -> Booking:
    """A scheduled visit took place (done) or found nobody (missed)."""
    need_staff(actor)
    if outcome not in (Status.DONE, Status.MISSED):
        raise InvalidField("结果只能是已办结或未遇。", field="outcome", code="bad_outcome")
    return _transition(session, booking, (Status.SCHEDULED,), outcome, outcome.value, actor, now)


def _transition(
    session: Session,
    booking: Booking,
    allowed: tuple[Status, ...],
    to: Status,
    action: str,
    actor: Actor,
    now: datetime,
) -> Booking:
    _reload_locked(session, booking)
    if booking.status not in allowed:
        raise Conflict(
            f"当前状态为「{STATUS_ZH[Status(booking.status)]}」，不能改为「{STATUS_ZH[to]}」。",
            code="bad_transition",
        )
    before = booking.status
    booking.status = to
    booking.updated_at = utc_naive(now)
    audit.record(session, booking, action, before, to, actor, now)
    return booking
