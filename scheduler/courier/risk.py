"""When can a certificate arrive at the earliest, and will it miss its promised date?

Computed from `now` whenever asked, so a certificate is flagged the moment missing its
date becomes certain (its last possible cut-off passed), not at the next job run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from scheduler.courier.models import Batch, BatchKind, Certificate, CertStatus
from scheduler.courier.settings import CourierSettings, Workdays, add_working_days
from scheduler.settings import TZ

MAX_LOOKAHEAD_DAYS = 60


def next_cutoff(
    settings: CourierSettings, calendar: Workdays, office: str, after: datetime
) -> datetime:
    """The first cut-off of `office` at or after `after` (aware, Asia/Shanghai)."""
    local = after.astimezone(TZ)
    day = local.date()
    for _ in range(MAX_LOOKAHEAD_DAYS):
        if calendar.is_working_day(day):
            for t in settings.cutoffs_for(office):
                at = datetime.combine(day, t, tzinfo=TZ)
                if at >= local:
                    return at
        day += timedelta(days=1)
    raise ValueError(f"no working day with a cut-off within {MAX_LOOKAHEAD_DAYS} days")


def delivery_day(
    settings: CourierSettings, calendar: Workdays, scope: str, leaves_on: date
) -> date:
    """Own runs deliver the day they leave; EMS takes its transit working days."""
    if scope == "county":
        return leaves_on
    return add_working_days(calendar, leaves_on, settings.ems_transit_days)


def earliest_delivery(
    cert: Certificate,
    batch: Batch | None,
    *,
    now: datetime,
    settings: CourierSettings,
    calendar: Workdays,
) -> date | None:
    """None once delivered; otherwise the earliest possible delivery date from `now`."""
    if cert.status == CertStatus.DELIVERED:
        return None
    today = now.astimezone(TZ).date()
    if cert.status in (CertStatus.BATCHED, CertStatus.DISPATCHED) and batch is not None:
        stamp = batch.dispatched_at or batch.cutoff_at
        left = max(_local(stamp).date(), today)
        kind_scope = "county" if batch.kind == BatchKind.RUN else "out"
        return max(delivery_day(settings, calendar, kind_scope, left), today)
    office = settings.dispatch_office(cert.office_code)
    ready = _local(cert.ready_at)
    cut = next_cutoff(settings, calendar, office, max(now.astimezone(TZ), ready))
    return delivery_day(settings, calendar, cert.scope, cut.date())


def at_risk(
    cert: Certificate,
    batch: Batch | None,
    *,
    now: datetime,
    settings: CourierSettings,
    calendar: Workdays,
) -> bool:
    day = earliest_delivery(cert, batch, now=now, settings=settings, calendar=calendar)
    return day is not None and day > cert.promised_date


def _local(stored: datetime) -> datetime:
    return stored.replace(tzinfo=UTC).astimezone(TZ)


def cutoff_moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TZ)
