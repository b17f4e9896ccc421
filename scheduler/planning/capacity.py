"""Capacity the plan can keep: how many visits the clerks on shift can actually make in a
zone's half-day, with travel, per skill.

Booking's count guard (``Slot.booked < Slot.capacity``, atomic in SQL) stays the hard
bound under concurrency; `PlanCapacity` is the booking service's capacity rule
(``scheduler.booking.capacity.CapacityRule``, injected where the service is built) and
decides what ``capacity`` and the per-skill places should be, from the shifts instead of
a flat number per clerk:

- a clerk leaves the county hall at the shift's start, drives to the zone (the mean
  drive to its township seats), makes visits of the typical duration with the zone's
  typical hop between them (mean drive between its seats, or across a township), and
  must be back by the shift's end after the afternoon, or after the morning when out
  only then;
- per skill, the visits of that skill's typical duration that clerks with the skill can
  make, given to booking as service time (a booking takes its own item's duration); the
  slot's capacity is the visits all clerks on shift can make;
- a clerk marked absent for the date (an ``Adjustment``) counts for nothing.

See docs/operations.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from routing.geo import Datum, LatLon, to_wgs84
from routing.travel import TravelModel
from scheduler.booking.capacity import Places, service_s, zones_by_town
from scheduler.planning import bookings as bk
from scheduler.planning.problem import BEGIN, SHIFT, default_travel, depot
from scheduler.planning.service import absent_clerks
from scheduler.settings import Zone

IN_TOWN = 0.02  # degrees: visits inside one township are a couple of km apart
SAFETY = 0.8  # keep a fifth of the day for what averages hide (a far village, a long visit)


@dataclass(frozen=True, slots=True)
class ZoneTravel:
    out_s: int  # hall -> zone
    hop_s: int  # visit -> next visit in the zone


def zone_travel(catalog: Any, towns: Sequence[str], travel: TravelModel) -> ZoneTravel:
    home = depot(catalog)
    seats = [
        to_wgs84(LatLon(catalog.townships[t].lat, catalog.townships[t].lon), Datum.GCJ02)
        for t in towns
        if t in catalog.townships
    ]
    if not seats:
        return ZoneTravel(0, 0)
    m = travel.matrix([home, *seats])
    out = sum(m.seconds[0][1:]) / len(seats)
    in_town = travel.matrix([seats[0], LatLon(seats[0].lat + IN_TOWN, seats[0].lon)]).seconds[0][1]
    hops = [
        m.seconds[i][j] if i != j else in_town
        for i in range(1, len(seats) + 1)
        for j in range(1, len(seats) + 1)
    ]
    return ZoneTravel(math.ceil(out), math.ceil(sum(hops) / len(hops)))


def visits_possible(half_day: str, *, alone: bool, service: int, zt: ZoneTravel) -> int:
    """Visits one clerk can make in a half-day (``alone``: out only this half-day)."""
    shift_start, shift_end = SHIFT[half_day]
    begin_lo, begin_hi = BEGIN[half_day]
    first = max(begin_lo, shift_start + zt.out_s)
    last = begin_hi
    if alone or half_day == "pm":
        # The drive back to the hall ends the clerk's day: after this half-day when out
        # only then, and after the afternoon always (out all day, the morning ends with
        # lunch in the field instead).
        last = min(last, shift_end - zt.out_s - service)
    if last < first:
        return 0
    step = (service + zt.hop_s) / SAFETY
    return int((last - first) // step) + 1


def typical_service(catalog: Any, skill: str | None = None) -> int:
    """The mean visit duration of home-visit items (of one skill), seconds."""
    items = [
        i
        for i in catalog.items.values()
        if i.home_visit.allowed and (skill is None or i.home_visit.skill == skill)
    ]
    if not items:
        return service_s(catalog, "")
    return round(sum(service_s(catalog, i.code) for i in items) / len(items))


@dataclass(frozen=True, slots=True)
class SlotCapacity:
    total: int
    per_skill: dict[str, int]


def slot_capacity(
    catalog: Any,
    zone: Zone,
    half_day: str,
    clerks: Iterable[bk.ClerkDay],
    travel: TravelModel | None = None,
) -> SlotCapacity:
    zt = _zone_travel(catalog, zone.town_codes, travel)
    total = 0
    per: dict[str, int] = {}
    for cd in clerks:
        if cd.zones.get(half_day) != zone.code:
            continue
        alone = len(cd.zones) == 1
        total += visits_possible(half_day, alone=alone, service=typical_service(catalog), zt=zt)
        for skill in cd.skills:
            n = visits_possible(
                half_day, alone=alone, service=typical_service(catalog, skill), zt=zt
            )
            per[skill] = per.get(skill, 0) + n
    return SlotCapacity(total, per)


_CACHE: dict[tuple[int, tuple[str, ...], str], ZoneTravel] = {}


def _zone_travel(catalog: Any, towns: Sequence[str], travel: TravelModel | None) -> ZoneTravel:
    key = (id(catalog), tuple(towns), getattr(travel, "identity", "default"))
    if key not in _CACHE:
        _CACHE[key] = zone_travel(catalog, towns, travel or _default())
    return _CACHE[key]


@cache
def _default() -> TravelModel:
    return default_travel()


def skills_of(catalog: Any) -> list[str]:
    """Every skill a home-visit item needs."""
    return sorted(
        {i.home_visit.skill for i in catalog.items.values() if i.home_visit.skill is not None}
    )


class PlanCapacity:
    """The booking service's capacity rule: the places of a date's slots are the visits
    the clerks on shift (not absent) can make; per skill, the service time of the visits
    of that skill's typical duration they can make (every skill of the catalog gets a
    number, 0 where no clerk on shift has it)."""

    skill_aware = True

    def __init__(self, catalog: Any, travel: TravelModel | None = None) -> None:
        self.catalog = catalog
        self.travel = travel
        # Each skill's typical visit, seconds: its share of a slot is that many visits' time.
        self.skill_service = {s: typical_service(catalog, s) for s in skills_of(catalog)}

    def places(self, session: Session, day: date) -> dict[tuple[str, str], Places]:
        clerks = bk.clerk_days(session, day, absent_clerks(session, day))
        out = {}
        for zone in zones(session):
            for half in ("am", "pm"):
                if not any(cd.zones.get(half) == zone.code for cd in clerks):
                    continue
                cap = slot_capacity(self.catalog, zone, half, clerks, self.travel)
                # Each skill's visits of its typical duration, as time: a booking then
                # takes its own item's duration of it.
                seconds = {s: cap.per_skill.get(s, 0) * t for s, t in self.skill_service.items()}
                out[(zone.code, half)] = Places(cap.total, seconds)
        return out


def zones(session: Session) -> list[Zone]:
    """The zones as stored (the townships each one serves)."""
    towns: dict[str, list[str]] = {}
    for town, zone in sorted(zones_by_town(session).items()):
        towns.setdefault(zone, []).append(town)
    names = bk.zone_names(session)
    return [Zone(code, names.get(code, code), tuple(t)) for code, t in sorted(towns.items())]
