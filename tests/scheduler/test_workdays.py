"""Working days: national calendar, county overrides, and the scheduler's fire times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from scheduler import jobs, workdays
from scheduler.settings import TZ
from scheduler.workdays import CalendarFileError, WorkCalendar


def test_national_holiday_and_adjusted_saturday() -> None:
    """国庆 2026 (1–7 Oct) is off; Saturday 10 Oct 2026 is an adjusted working day (调休)."""
    cal = WorkCalendar()
    assert not cal.is_working_day(date(2026, 10, 1))
    assert not cal.is_working_day(date(2026, 10, 7))
    assert cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 10, 11))


def test_evening_before_a_holiday_plans_the_next_working_day() -> None:
    """On 30 Sep 2026 the next working day is 8 Oct (after the National Day week)."""
    assert WorkCalendar().next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)


def test_friday_before_an_adjusted_saturday_plans_the_saturday() -> None:
    """On Friday 9 Oct 2026 the next working day is Saturday 10 Oct (调休)."""
    assert WorkCalendar().next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)


def test_year_beyond_the_package_uses_weekdays_and_the_county_file(tmp_path: Path) -> None:
    """2027 is not in chinese-calendar: weekdays work, the county file adds days off/on."""
    f = tmp_path / "workdays.yml"
    f.write_text(
        "days_off:\n  - {date: 2027-01-01, note: 元旦}\nworking_days:\n  - 2027-01-09\n",
        encoding="utf-8",
    )
    cal = workdays.load(f)
    assert not cal.is_working_day(date(2027, 1, 1))  # Friday, a holiday by the file
    assert cal.is_working_day(date(2027, 1, 4))  # Monday
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday
    assert cal.is_working_day(date(2027, 1, 9))  # Saturday made working by the file
    assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 4)


def test_county_file_overrides_the_package(tmp_path: Path) -> None:
    """A county closure (typhoon day) on a national working day is a day off."""
    f = tmp_path / "w.yml"
    f.write_text("days_off: [2026-06-02]\n", encoding="utf-8")
    assert not workdays.load(f).is_working_day(date(2026, 6, 2))


@pytest.mark.parametrize(
    "body",
    ["days_off: [notadate]\n", "days_off: 3\n", "holidays: []\n", "[1, 2]\n"],
)
def test_bad_county_file_is_refused_with_the_file_named(tmp_path: Path, body: str) -> None:
    """A malformed override file raises CalendarFileError naming the file."""
    f = tmp_path / "bad.yml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(CalendarFileError, match=r"bad\.yml"):
        workdays.load(f)


def test_shipped_county_file_loads() -> None:
    """content/workdays.yml parses and marks 1 January 2027 off."""
    assert not workdays.load().is_working_day(date(2027, 1, 1))


def fire_times(trigger: jobs.WorkingDayTrigger, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    prev = None
    now = start
    for _ in range(n):
        fire = trigger.get_next_fire_time(prev, now)
        assert fire is not None
        out.append(fire)
        prev, now = fire, fire
    return out


def test_nightly_trigger_fires_on_working_days_only() -> None:
    """17:30 Shanghai on 18, 20 (调休 Sunday), 21–24 Sep, not 25 (中秋), 28–30 Sep, then
    8, 9, 10 (调休 Saturday) and 12 Oct."""
    trigger = jobs.WorkingDayTrigger(time(17, 30), WorkCalendar())
    fires = fire_times(trigger, datetime(2026, 9, 18, 12, 0, tzinfo=TZ), 13)
    days = [f.date() for f in fires]
    assert days == [
        date(2026, 9, 18),
        date(2026, 9, 20),
        *[date(2026, 9, d) for d in range(21, 25)],
        *[date(2026, 9, d) for d in range(28, 31)],
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),
        date(2026, 10, 12),
    ]
    assert all(f.astimezone(TZ).time() == time(17, 30) for f in fires)
    assert fires[0].utcoffset() == TZ.utcoffset(datetime(2026, 9, 18))


def test_plan_date_on_the_eve_of_national_day() -> None:
    """The run on 30 Sep 2026 17:30 plans 8 Oct; the one on 9 Oct plans Saturday 10 Oct."""
    cal = WorkCalendar()
    assert jobs.plan_date_for(cal, datetime(2026, 9, 30, 9, 30, tzinfo=UTC)) == date(2026, 10, 8)
    assert jobs.plan_date_for(cal, datetime(2026, 10, 9, 9, 30, tzinfo=UTC)) == date(2026, 10, 10)


def test_scheduler_has_explicit_timezone_ids_and_job_defaults() -> None:
    """Every job has an id; Asia/Shanghai; coalesce, one instance, hours of misfire grace."""
    from apscheduler.schedulers.background import BackgroundScheduler

    sched = BackgroundScheduler(timezone=TZ, job_defaults=jobs.JOB_DEFAULTS)
    rt = jobs.Runtime(
        read_session=None,  # type: ignore[arg-type]
        write_session=None,  # type: ignore[arg-type]
        service=None,  # type: ignore[arg-type]
        calendar=WorkCalendar(),
    )
    jobs.build(rt, sched)
    sched.start(paused=True)
    try:
        found = {j.id: j for j in sched.get_jobs()}
        assert set(found) == {
            "nightly-plan",
            "reminders",
            "replan-requests",
            "outbox",
            "retention",
            "courier-cutoffs",
        }
        for job in found.values():
            assert job.coalesce is True
            assert job.max_instances == 1
            assert job.misfire_grace_time >= 3600
        assert str(sched.timezone) == "Asia/Shanghai"
    finally:
        sched.shutdown(wait=False)
