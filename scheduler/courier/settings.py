"""Courier settings: cut-off times per office, run capacity and duration, EMS transit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any, Protocol

DEFAULT_CUTOFFS = (time(10, 30), time(15, 30))


class Workdays(Protocol):
    """The working-day calendar (the operations side's calendar plugs in here)."""

    def is_working_day(self, day: date) -> bool: ...


@dataclass(frozen=True, slots=True)
class WeekdayCalendar:
    """Monday to Friday, minus `holidays`, plus adjusted working weekend days (调休)."""

    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        return day.weekday() < 5 and day not in self.holidays


def add_working_days(calendar: Workdays, day: date, n: int) -> date:
    """The n-th working day after `day` (n = 0: `day` itself)."""
    out = day
    while n > 0:
        out += timedelta(days=1)
        if calendar.is_working_day(out):
            n -= 1
    return out


@dataclass(frozen=True, slots=True)
class CourierSettings:
    """What a county configures for courier delivery (`COURIER` in the app config).

    `depot_office` is where the county's courier starts and ends each run; every office's
    certificates go out through the cut-offs of its dispatch office (`dispatch_offices`,
    default: the depot). Durations are seconds, capacity counts parcels.
    """

    depot_office: str = "county-hall"
    cutoffs: Mapping[str, tuple[time, ...]] = field(default_factory=dict)
    dispatch_offices: Mapping[str, str] = field(default_factory=dict)
    run_capacity: int = 40
    max_run_s: int = 6 * 3600  # the far townships (官塘, 江根) are ~2 h each way
    load_s: int = 1800  # from the cut-off to the courier leaving the depot
    stop_s: int = 300  # per delivery stop
    parcel_s: int = 60  # per parcel handed over at a stop
    pickup_s: int = 600  # collecting at a township station
    max_runs_per_cutoff: int | None = None
    ems_transit_days: int = 2  # working days from hand-over to delivery, out of county
    solver_branch_limit: int = 20_000
    solver_time_limit_s: float | None = 5.0

    def __post_init__(self) -> None:
        if self.run_capacity < 1:
            raise ValueError("run_capacity must be >= 1")
        if self.max_run_s < 600:
            raise ValueError("max_run_s must be at least 600 seconds")
        if self.max_runs_per_cutoff is not None and self.max_runs_per_cutoff < 1:
            raise ValueError("max_runs_per_cutoff must be >= 1")
        for office, times in self.cutoffs.items():
            if not times or list(times) != sorted(set(times)):
                raise ValueError(f"cut-offs of {office} must be distinct and in order")

    def cutoffs_for(self, office: str) -> tuple[time, ...]:
        return tuple(self.cutoffs.get(office, self.cutoffs.get("*", DEFAULT_CUTOFFS)))

    def dispatch_office(self, office: str) -> str:
        return self.dispatch_offices.get(office, self.depot_office)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> CourierSettings:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown courier settings: {', '.join(sorted(unknown))}")
        if "cutoffs" in data:
            data["cutoffs"] = {
                office: tuple(t if isinstance(t, time) else time.fromisoformat(t) for t in times)
                for office, times in data["cutoffs"].items()
            }
        return cls(**data)
