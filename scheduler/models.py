"""Tables of the booking side. Personal data is stored hashed, masked or encrypted only."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.db import Base


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SCHEDULED = "scheduled"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


STATUS_ZH = {
    Status.PENDING: "待确认",
    Status.CONFIRMED: "已确认",
    Status.SCHEDULED: "已排班",
    Status.DONE: "已上门办结",
    Status.MISSED: "未遇",
    Status.CANCELLED: "已取消",
}
ACTIVE = (Status.PENDING, Status.CONFIRMED, Status.SCHEDULED)
# Bookings that hold a place in their slot (all but cancelled).
HOLDING = (Status.PENDING, Status.CONFIRMED, Status.SCHEDULED, Status.DONE, Status.MISSED)

HALF_DAYS = ("am", "pm")
HALF_DAY_ZH = {"am": "上午", "pm": "下午"}
_ACTIVE_SQL = "status IN ('pending', 'confirmed', 'scheduled')"
ONE_ACTIVE_PER_PERSON_ITEM = "uq_bookings_active_person_item"  # the unique index's name


class Zone(Base):
    """Townships served together; capacity is counted per zone, date and half-day."""

    __tablename__ = "zones"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class ZoneTown(Base):
    __tablename__ = "zone_towns"
    town_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))


class Clerk(Base):
    """A window clerk who makes home visits."""

    __tablename__ = "clerks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    skills: Mapped[str] = mapped_column(String(300), default="")  # comma-separated skill ids
    active: Mapped[bool] = mapped_column(default=True)


class Shift(Base):
    """A clerk out on home visits in a zone for one half-day."""

    __tablename__ = "shifts"
    __table_args__ = (UniqueConstraint("clerk_id", "date", "half_day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    clerk_id: Mapped[int] = mapped_column(ForeignKey("clerks.id"))
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))
    date: Mapped[date] = mapped_column(Date)
    half_day: Mapped[str] = mapped_column(String(2))


class Slot(Base):
    """Visit places of a zone for a date and half-day; `booked` is guarded in SQL."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("zone_code", "date", "half_day"),
        CheckConstraint("booked >= 0", name="booked_not_negative"),
        CheckConstraint("half_day IN ('am', 'pm')", name="half_day_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))
    date: Mapped[date] = mapped_column(Date)
    half_day: Mapped[str] = mapped_column(String(2))
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    booked: Mapped[int] = mapped_column(Integer, default=0)


class SlotSkill(Base):
    """Of a slot's places, how much service time (seconds) visits needing one skill may
    take: what the clerks on shift with the skill can give.

    A skill without a row is not bounded beyond the slot; a row with 0 refuses the skill.
    The time taken is added up from the bookings, under the slot row's lock (see
    `scheduler.booking.capacity.take_place`), so nothing here can drift."""

    __tablename__ = "slot_skills"
    __table_args__ = (CheckConstraint("service_s >= 0", name="skill_service_not_negative"),)
    slot_id: Mapped[int] = mapped_column(
        ForeignKey("slots.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(40), primary_key=True)
    service_s: Mapped[int] = mapped_column(Integer, default=0)


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # window | clerk | dispatcher | admin
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Wrong passwords in a row and until when (UTC, naive) the account refuses logins.
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class StaffSession(Base):
    """A staff login, revocable on the server: the cookie carries a random token whose
    SHA-256 is the key here. Ended by logout, a password change or deactivation, or by a
    working day without use."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class RateCount(Base):
    """Requests counted per key (e.g. "lookup:203.0.113.7") and fixed window, in the
    database so that every worker process shares one count."""

    __tablename__ = "rate_counts"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)  # epoch seconds
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Booking(Base):
    """One home-visit request. Names, phones and street detail are encrypted (AES-GCM)."""

    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per person and item: a database rule, so it holds under races.
        Index(
            ONE_ACTIVE_PER_PERSON_ITEM,
            "id_hash",
            "item_code",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_bookings_phone_masked", "phone_masked"),
        Index("ix_bookings_date_zone", "date", "zone_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(8), unique=True)
    item_code: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default=Status.PENDING)
    channel: Mapped[str] = mapped_column(String(12))  # web | phone | window
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    applicant_name_enc: Mapped[str] = mapped_column(Text)
    applicant_name_masked: Mapped[str] = mapped_column(String(50))
    id_hash: Mapped[str] = mapped_column(String(64))
    id_masked: Mapped[str] = mapped_column(String(18))
    # A ten-year band, not the exact age: with the masked ID (region prefix only) it
    # leaves millions of candidate ID numbers (docs/booking.md, Personal data).
    age_band: Mapped[str] = mapped_column(String(8))
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_masked: Mapped[str] = mapped_column(String(11))

    booker_kind: Mapped[str] = mapped_column(String(12), default="self")  # self|relative|worker
    booker_name_enc: Mapped[str | None] = mapped_column(Text)
    booker_name_masked: Mapped[str | None] = mapped_column(String(50))
    booker_relationship: Mapped[str | None] = mapped_column(String(30))
    booker_phone_enc: Mapped[str | None] = mapped_column(Text)
    booker_phone_masked: Mapped[str | None] = mapped_column(String(11))

    town_code: Mapped[str] = mapped_column(String(9))
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))
    village: Mapped[str] = mapped_column(String(50), default="")
    address_detail_enc: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    datum: Mapped[str | None] = mapped_column(String(8))
    geo_precision: Mapped[str | None] = mapped_column(String(10))

    reason: Mapped[str] = mapped_column(String(12))
    disability_grade: Mapped[int | None]
    eligible_by: Mapped[str] = mapped_column(String(12))
    needs_phone_check: Mapped[bool] = mapped_column(default=False)

    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"))
    date: Mapped[date] = mapped_column(Date)
    half_day: Mapped[str] = mapped_column(String(2))
    window_start: Mapped[datetime | None] = mapped_column(DateTime)  # UTC, naive
    window_end: Mapped[datetime | None] = mapped_column(DateTime)
    assigned_clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"))

    created_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # Look-ups with a wrong phone suffix since `lookup_failed_at` (UTC, naive, the last
    # one); too many lock the reference against look-ups for a while.
    lookup_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    lookup_failed_at: Mapped[datetime | None] = mapped_column(DateTime)

    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", order_by="BookingEvent.id"
    )


class BookingEvent(Base):
    """Audit: every state change of a booking — who, through which channel, when, from → to."""

    __tablename__ = "booking_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    action: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(10))  # resident | staff | system
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    channel: Mapped[str] = mapped_column(String(12))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str] = mapped_column(String(200), default="")  # never personal data

    booking: Mapped[Booking] = relationship(back_populates="events")


class IdempotencyRecord(Base):
    """The stored answer to a POST made with an Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
