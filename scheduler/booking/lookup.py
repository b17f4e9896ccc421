"""Finding bookings: a resident's look-up by reference and phone suffix (with the
per-reference lock-out against guessing), and the staff search and lists."""

from __future__ import annotations

import hmac
from datetime import date, datetime, timedelta

from sqlalchemy import Table, case, or_, select, update
from sqlalchemy.orm import Session

from scheduler import identity
from scheduler.booking.capacity import Db
from scheduler.booking.dates import local_date, utc_naive
from scheduler.errors import LookupLocked, NotFound
from scheduler.models import Booking, Status
from scheduler.settings import BookingSettings

BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
NOT_FOUND_ZH = "没有找到该预约，请核对预约号和手机号后四位。"


class WrongPhoneSuffix(NotFound):
    """A look-up of an existing booking with the wrong phone suffix: answered exactly
    like an unknown reference, and counted by the caller (`count_failed_lookup`)."""

    def __init__(self, booking_id: int) -> None:
        super().__init__(NOT_FOUND_ZH)
        self.booking_id = booking_id


def by_reference(session: Session, reference: str) -> Booking:
    """The booking with this reference (typed forms accepted), else NotFound."""
    ref = identity.normalize_reference(reference)
    booking = session.scalar(select(Booking).where(Booking.reference == ref)) if ref else None
    if booking is None:
        raise NotFound(NOT_FOUND_ZH)
    return booking


def lookup(
    session: Session, settings: BookingSettings, reference: str, phone_last4: str, *, now: datetime
) -> Booking:
    """A resident's own booking; a wrong phone suffix looks just like an unknown
    reference (`WrongPhoneSuffix` is a `NotFound`). A reference with too many recent
    failures is locked, the right suffix included."""
    ref = identity.normalize_reference(reference)
    booking = session.scalar(select(Booking).where(Booking.reference == ref)) if ref else None
    expected = booking.phone_masked[-4:] if booking is not None else "0000"
    right = hmac.compare_digest(expected.encode(), phone_last4.encode())
    if booking is None:
        raise NotFound(NOT_FOUND_ZH)
    if locked(settings, booking, now):
        minutes = settings.lookup_lockout_minutes
        raise LookupLocked(
            f"该预约号的手机号后四位已输错多次，{minutes}分钟内暂停查询和修改；"
            "如需帮助请拨打12345，由工作人员核实身份后办理。"
        )
    if not right:
        raise WrongPhoneSuffix(booking.id)
    return booking


def locked(settings: BookingSettings, booking: Booking, now: datetime) -> bool:
    last = booking.lookup_failed_at
    return (
        last is not None
        and booking.lookup_failures >= settings.lookup_failures_allowed
        and last > utc_naive(now) - timedelta(minutes=settings.lookup_lockout_minutes)
    )


def count_failed_lookup(
    db: Db, settings: BookingSettings, booking_id: int, *, now: datetime
) -> None:
    """One more look-up with a wrong phone suffix; failures older than the lock-out
    window before it are forgotten."""
    stamp = utc_naive(now)
    since = stamp - timedelta(minutes=settings.lookup_lockout_minutes)
    b = BOOKINGS.c
    db.execute(
        update(BOOKINGS)
        .where(b.id == booking_id)
        .values(
            lookup_failures=case(
                (or_(b.lookup_failed_at.is_(None), b.lookup_failed_at <= since), 1),
                else_=b.lookup_failures + 1,
            ),
            lookup_failed_at=stamp,
        )
    )


def search(session: Session, text: str, *, limit: int = 50) -> list[Booking]:
    """Staff search: a reference, a full mobile number, its masked form (138****1234) or its
    last four digits. Names are stored encrypted and cannot be searched."""
    text = text.strip()
    if not text.isprintable():  # control characters match nothing (NUL breaks PostgreSQL)
        return []
    q = select(Booking).order_by(Booking.date.desc(), Booking.id.desc()).limit(limit)
    ref = identity.normalize_reference(text)
    if ref is not None and not text.isdigit():
        return list(session.scalars(q.where(Booking.reference == ref)))
    digits = text.replace(" ", "").replace("-", "")
    if len(digits) == 4 and digits.isdigit():
        # The last four digits of the applicant's or the booker's mobile.
        return list(
            session.scalars(
                q.where(
                    or_(
                        Booking.phone_masked.endswith(digits, autoescape=True),
                        Booking.booker_phone_masked.endswith(digits, autoescape=True),
                    )
                )
            )
        )
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


def pending(session: Session, now: datetime, *, limit: int = 100) -> list[Booking]:
    """Bookings waiting for the confirming phone call, from today on, earliest first."""
    return list(
        session.scalars(
            select(Booking)
            .where(Booking.status == Status.PENDING, Booking.date >= local_date(now))
            .order_by(Booking.date, Booking.half_day, Booking.id)
            .limit(limit)
        )
    )


ACTIVE = (Status.PENDING, Status.CONFIRMED, Status.SCHEDULED)


def work_list(
    session: Session,
    now: datetime,
    *,
    status: Status | None = None,
    day: date | None = None,
    limit: int = 200,
) -> list[Booking]:
    """The staff list: bookings of `status` (default: every open one — 待确认, 已确认,
    已排班) on `day` (default: from today on; closed statuses from 30 days back), earliest
    first, so today's and tomorrow's work comes first."""
    q = select(Booking)
    q = q.where(Booking.status == status) if status else q.where(Booking.status.in_(ACTIVE))
    if day is not None:
        q = q.where(Booking.date == day)
    else:
        back = 0 if status is None or status in ACTIVE else 30
        q = q.where(Booking.date >= local_date(now) - timedelta(days=back))
    q = q.order_by(Booking.date, Booking.half_day, Booking.id).limit(limit)
    return list(session.scalars(q))


def visits_of(
    session: Session, clerk_id: int | None, now: datetime, *, days: int = 7
) -> list[Booking]:
    """A clerk's scheduled visits from today over the next `days`, in time order."""
    today = local_date(now)
    return list(
        session.scalars(
            select(Booking)
            .where(
                Booking.assigned_clerk_id == clerk_id,
                Booking.status == Status.SCHEDULED,
                Booking.date >= today,
                Booking.date <= today + timedelta(days=days),
            )
            .order_by(Booking.window_start)
        )
    )
