"""Booking dates: the planning cut-off, the bookable range, stored (UTC) and shown times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduler.errors import InvalidField
from scheduler.settings import TZ, BookingSettings


def utc_naive(moment: datetime) -> datetime:
    """Stored form of a moment: UTC without tzinfo (SQLite drops offsets)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_local(stored: datetime) -> datetime:
    """A stored (naive UTC) moment in Asia/Shanghai."""
    return stored.replace(tzinfo=UTC).astimezone(TZ)


def local_date(now: datetime) -> date:
    return now.astimezone(TZ).date()


def cutoff_for(settings: BookingSettings, day: date) -> datetime:
    """The planning cut-off for a visit date: the configured time on the day before."""
    return datetime.combine(day - timedelta(days=1), settings.cutoff, tzinfo=TZ)


def first_bookable(settings: BookingSettings, now: datetime) -> date:
    """The first date a resident may book: tomorrow, or later once its cut-off passed."""
    day = local_date(now) + timedelta(days=1)
    while now >= cutoff_for(settings, day):
        day += timedelta(days=1)
    return day


def last_bookable(settings: BookingSettings, now: datetime) -> date:
    return local_date(now) + timedelta(days=settings.horizon_days)


def check_date(settings: BookingSettings, day: date, now: datetime, *, staff: bool = False) -> None:
    """Refuse a visit date outside what the actor may book (staff: today as well, and
    after the cut-off)."""
    today = local_date(now)
    if day <= today and not (staff and day == today):
        raise InvalidField(
            "预约日期已过，请选择明天及以后的日期。", field="date", code="date_in_past"
        )
    if day > last_bookable(settings, now):
        raise InvalidField(
            f"只能预约{settings.horizon_days}天以内的日期。",
            field="date",
            code="date_beyond_horizon",
        )
    if not staff and day < first_bookable(settings, now):
        raise InvalidField(
            f"该日期已过排班截止时间（前一天{settings.cutoff:%H:%M}），请选择之后的日期。",
            field="date",
            code="date_after_cutoff",
        )


def half_day_bounds(
    settings: BookingSettings, day: date, half_day: str
) -> tuple[datetime, datetime]:
    """When visits of a half-day may take place (Asia/Shanghai, aware), from settings."""
    start, end = settings.visit_hours[half_day]
    return datetime.combine(day, start, tzinfo=TZ), datetime.combine(day, end, tzinfo=TZ)


__all__ = [
    "check_date",
    "cutoff_for",
    "first_bookable",
    "half_day_bounds",
    "last_bookable",
    "local_date",
    "to_local",
    "utc_naive",
]
