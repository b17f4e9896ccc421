"""Booking settings: every rule a county may change lives here, not in code paths."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class EligibilityRule:
    """One way to qualify for a home visit; a request qualifies if any rule matches.

    kind ``age``: applicant's full years ≥ ``min_age``;
    ``disability``: declared 残疾人证 grade in ``grades``;
    ``illness``: illness or bed-ridden declared (staff confirm by phone);
    ``alone``: living alone and full years ≥ ``min_age``;
    ``other``: any other declared reason (off by default).
    """

    kind: str
    min_age: int | None = None
    grades: tuple[int, ...] = ()
    needs_phone_check: bool = False

    def __post_init__(self) -> None:
        if self.kind not in {"age", "disability", "illness", "alone", "other"}:
            raise ValueError(f"unknown eligibility rule kind {self.kind!r}")
        if self.kind in {"age", "alone"} and self.min_age is None:
            raise ValueError(f"eligibility rule {self.kind!r} needs min_age")


DEFAULT_RULES = (
    EligibilityRule("age", min_age=80),
    EligibilityRule("disability", grades=(1, 2)),
    EligibilityRule("illness", needs_phone_check=True),
    EligibilityRule("alone", min_age=70),
)


@dataclass(frozen=True, slots=True)
class Zone:
    """A group of townships served by the same clerks: capacity is counted per zone."""

    code: str
    name: str
    town_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BookingSettings:
    """How booking behaves. Build with `from_mapping` (TOML/JSON/Flask config keys)."""

    eligibility: tuple[EligibilityRule, ...] = DEFAULT_RULES
    horizon_days: int = 14
    # A date can be booked, cancelled or moved until this time on the day before (Shanghai).
    cutoff: time = time(17, 0)
    # Where a slot's places come from: "plan" — what the clerks on shift can actually
    # make, per skill, with travel (scheduler.planning.capacity); "per_clerk" — a flat
    # visits_per_clerk_half_day per clerk on shift.
    capacity: str = "plan"
    visits_per_clerk_half_day: int = 3
    max_body_bytes: int = 16 * 1024
    lookup_rate: tuple[int, int] = (20, 60)  # requests per seconds, per client address
    write_rate: tuple[int, int] = (30, 60)
    # A reference whose phone suffix was given wrong this many times is locked against
    # look-ups (from any address) until this many minutes after the last failure.
    lookup_failures_allowed: int = 10
    lookup_lockout_minutes: int = 60
    alternatives: int = 5
    zones: tuple[Zone, ...] = field(default_factory=tuple)
    # When visits of each half-day may take place (Asia/Shanghai): a scheduled window
    # must lie inside its booking's half-day.
    visit_hours: Mapping[str, tuple[time, time]] = field(
        default_factory=lambda: {
            "am": (time(8, 0), time(12, 0)),
            "pm": (time(13, 30), time(17, 30)),
        }
    )
    login_rate: tuple[int, int] = (20, 60)  # login attempts per seconds, per client address
    # Wrong passwords in a row before an account locks, for login_lockout_minutes, then
    # twice as long after each further failure (at most an hour).
    login_failures_allowed: int = 5
    login_lockout_minutes: int = 1

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BookingSettings:
        unknown = sorted(set(data) - _KEYS)
        if unknown:  # a misspelt key would otherwise be ignored without a word
            raise ValueError(f"unknown booking setting(s): {', '.join(unknown)}")
        settings = cls()
        updates: dict[str, Any] = {}
        if "eligibility" in data:
            updates["eligibility"] = tuple(
                EligibilityRule(
                    kind=r["kind"],
                    min_age=r.get("min_age"),
                    grades=tuple(r.get("grades", ())),
                    needs_phone_check=bool(r.get("needs_phone_check", False)),
                )
                for r in data["eligibility"]
            )
        for key in (
            "horizon_days",
            "visits_per_clerk_half_day",
            "max_body_bytes",
            "alternatives",
            "lookup_failures_allowed",
            "lookup_lockout_minutes",
            "login_failures_allowed",
            "login_lockout_minutes",
        ):
            if key in data:
                updates[key] = int(data[key])
                if key in _AT_LEAST_ONE and updates[key] < 1:
                    raise ValueError(f"booking setting {key} must be at least 1")
        if "capacity" in data:
            if data["capacity"] not in CAPACITY_RULES:
                raise ValueError(
                    f"booking setting capacity must be one of {', '.join(CAPACITY_RULES)}, "
                    f"not {data['capacity']!r}"
                )
            updates["capacity"] = str(data["capacity"])
        if "cutoff" in data:
            updates["cutoff"] = _clock(data["cutoff"])
        if "visit_hours" in data:
            hours = {}
            for half, (start, end) in data["visit_hours"].items():
                if half not in ("am", "pm"):
                    raise ValueError(f"visit_hours: unknown half-day {half!r}")
                hours[half] = (_clock(start), _clock(end))
                if not hours[half][0] < hours[half][1]:
                    raise ValueError(f"visit_hours.{half}: the start must be before the end")
            updates["visit_hours"] = {**settings.visit_hours, **hours}
        for key in ("lookup_rate", "write_rate", "login_rate"):
            if key in data:
                n, per = data[key]
                updates[key] = (int(n), int(per))
        if "zones" in data:
            updates["zones"] = tuple(
                Zone(z["code"], z["name"], tuple(z["town_codes"])) for z in data["zones"]
            )
        return replace(settings, **updates)


def _clock(raw: Any) -> time:
    hh, mm = str(raw).split(":")
    return time(int(hh), int(mm))


CAPACITY_RULES = ("plan", "per_clerk")
_AT_LEAST_ONE = {
    "lookup_failures_allowed",
    "lookup_lockout_minutes",
    "login_failures_allowed",
    "login_lockout_minutes",
}
_KEYS = {
    "eligibility",
    "horizon_days",
    "cutoff",
    "capacity",
    "visits_per_clerk_half_day",
    "max_body_bytes",
    "lookup_rate",
    "write_rate",
    "lookup_failures_allowed",
    "lookup_lockout_minutes",
    "alternatives",
    "zones",
    "visit_hours",
    "login_rate",
    "login_failures_allowed",
    "login_lockout_minutes",
}


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a settings file (TOML or JSON by extension)."""
    p = Path(path)
    if p.suffix == ".json":
        return dict(json.loads(p.read_text(encoding="utf-8")))
    with p.open("rb") as f:
        return tomllib.load(f)


# Default zones of 庆元县: the three subdistricts of the county town together, the rural
# townships in four groups by road (sample grouping; a county edits it in settings).
QINGYUAN_ZONES = (
    Zone("city", "城区（松源、濛洲、屏都）", ("331126001", "331126002", "331126003")),
    Zone(
        "west",
        "西片（黄田、竹口、淤上、安南、隆宫）",
        ("331126101", "331126102", "331126202", "331126203", "331126205"),
    ),
    Zone(
        "north",
        "北片（百山祖、贤良、五大堡、张村）",
        ("331126107", "331126106", "331126201", "331126204"),
    ),
    Zone(
        "east",
        "东片（荷地、左溪、江根、官塘）",
        ("331126104", "331126105", "331126207", "331126211"),
    ),
    Zone("south", "南片（岭头、举水、龙溪）", ("331126200", "331126206", "331126209")),
)
