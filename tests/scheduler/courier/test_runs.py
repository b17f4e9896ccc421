"""Delivery runs: full direct runs, split leftovers packed near the lower bound, pickups
before the deliveries they feed, and the routing check on every plan."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from courier_support import real_catalog, settings

from scheduler.courier.cutoff import office_point, town_point
from scheduler.courier.runs import ParcelIn, RunsPlan, plan_runs

HALL = "county-hall"


def _parcels(counts: dict[str, int], office: str = HALL, zone: str = "west") -> list[ParcelIn]:
    out, n = [], 0
    for town, count in counts.items():
        for _ in range(count):
            n += 1
            out.append(
                ParcelIn(n, 1, zone, town, town_point(real_catalog(), town), office, 100 + n % 3)
            )
    return out


def _plan(parcels: list[ParcelIn], **over: Any) -> RunsPlan:
    cat = real_catalog()
    offices = {o: office_point(cat, o) for o in cat.offices}
    return plan_runs(
        parcels,
        depot=office_point(cat, HALL),
        depot_office=HALL,
        offices=offices,
        settings=settings(**over),
        start_s=11 * 3600,
    )


def test_leftovers_are_split_so_runs_meet_the_lower_bound() -> None:
    """30 + 20 + 29 parcels in one zone with capacity 40 fit in 2 runs, not 3."""
    parcels = _parcels({"331126205": 30, "331126101": 20, "331126202": 29})
    plan = _plan(parcels, run_capacity=40)
    assert len(plan.runs) == math.ceil(79 / 40) == 2
    carried = Counter(i for r in plan.runs for i in r.certificate_ids)
    assert set(carried.values()) == {1} and len(carried) == 79
    assert all(r.parcels <= 40 and not r.over_duration for r in plan.runs)


def test_full_places_get_direct_runs_most_urgent_first() -> None:
    """A place with 90 parcels and capacity 40: two full direct runs and a remainder."""
    plan = _plan(_parcels({"331126001": 90}, zone="city"), run_capacity=40)
    sizes = sorted(r.parcels for r in plan.runs)
    assert sizes == [10, 40, 40]


def test_station_pickup_comes_before_its_deliveries_and_on_arrival_when_local() -> None:
    """Parcels waiting at 隆宫's station are picked up there on arrival, then delivered."""
    parcels = _parcels({"331126205": 5}, office="station-331126205")
    (run,) = _plan(parcels).runs
    assert [s.kind for s in run.stops] == ["pickup", "deliver"]
    # Same place: no travel between them, only the time spent collecting.
    assert run.stops[1].arrival_s - run.stops[0].arrival_s == settings().pickup_s


def test_a_stop_no_run_can_reach_in_time_is_reported() -> None:
    """With a one-hour maximum, far 官塘 is left out with a reason."""
    parcels = _parcels({"331126211": 2}, zone="east")
    plan = _plan(parcels, max_run_s=3600)
    assert not plan.runs and len(plan.unplanned) == 2
    assert all(plan.reasons.values())
