"""Working days: the national calendar (holidays and 调休) plus a county override file.

The national calendar comes from the ``chinese-calendar`` package for the years it
covers (it raises NotImplementedError beyond them). For other years Monday–Friday are
working days. The county file (``content/workdays.yml``) wins over both: it lists extra
days off (a typhoon closure, the statutory holidays of a year the package lacks) and
extra working days (调休 weekends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

log = logging.getLogger(__name__)
COUNTY_FILE = Path(__file__).resolve().parents[1] / "content" / "workdays.yml"
MAX_SEARCH_DAYS = 60  # the longest run of days off in China is 8 (春节, 国庆)


class CalendarFileError(ValueError):
    """The county override file is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class WorkCalendar:
    """Which dates are working days for home visits."""

    days_off: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    _warned: set[int] = field(default_factory=set, compare=False, repr=False)

    def __post_init__(self) -> None:
        both = self.days_off & self.working_days
        if both:
            raise CalendarFileError(f"dates both off and working: {sorted(both)}")

    def national(self, day: date) -> bool | None:
        """The package's answer, or None for a year it does not cover."""
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("chinese-calendar has no data for %s: weekdays and overrides", day.year)
            return None

    def is_working_day(self, day: date) -> bool:
        if day in self.days_off:
            return False
        if day in self.working_days:
            return True
        national = self.national(day)
        return day.weekday() < 5 if national is None else national

    def next_working_day(self, after: date) -> date:
        """The first working day strictly after ``after``."""
        day = after
        for _ in range(MAX_SEARCH_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {MAX_SEARCH_DAYS} days after {after}")

    def working_days_between(self, first: date, last: date) -> list[date]:
        out, day = [], first
        while day <= last:
            if self.is_working_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out


def _dates(entries: Any, key: str, path: Path) -> Iterable[date]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise CalendarFileError(f"{path}: {key} must be a list")
    out = []
    for n, entry in enumerate(entries):
        raw = entry.get("date") if isinstance(entry, dict) else entry
        if isinstance(raw, date):
            out.append(raw)
            continue
        try:
            out.append(date.fromisoformat(str(raw)))
        except ValueError:
            raise CalendarFileError(f"{path}: {key}[{n}]: not a date: {raw!r}") from None
    return out


def load(path: Path | str = COUNTY_FILE) -> WorkCalendar:
    """The calendar with the county's override file (a missing file overrides nothing)."""
    p = Path(path)
    if not p.exists():
        return WorkCalendar()
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise CalendarFileError(f"{p}: expected a mapping with days_off and working_days")
    unknown = set(data) - {"days_off", "working_days"}
    if unknown:
        raise CalendarFileError(f"{p}: unknown key(s) {', '.join(sorted(unknown))}")
    return WorkCalendar(
        frozenset(_dates(data.get("days_off"), "days_off", p)),
        frozenset(_dates(data.get("working_days"), "working_days", p)),
    )
