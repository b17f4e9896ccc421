"""Tiny named routing instances and factories.

Travel in these tests is on a plane: 0.01 degree is 1 km (``PlaneTravel``), driven at
10 m/s, so 1 km is 100 s. Clock times are seconds from midnight (``H`` = one hour).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from routing.geo import LatLon
from routing.model import Break, Clerk, Problem, TimeWindow, Visit, build_problem
from routing.travel import TravelMatrix

H = 3600
BASE = LatLon(27.6, 119.0)


def km_east(km: float, north_km: float = 0.0) -> LatLon:
    """A point ``km`` east and ``north_km`` north of the base point."""
    return LatLon(BASE.lat + north_km / 100, BASE.lon + km / 100)


class PlaneTravel:
    """Planar distances (0.01 degree = 1 km), 10 m/s, travel seconds rounded up."""

    def __init__(self) -> None:
        self.calls: list[list[LatLon]] = []

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        self.calls.append(list(points))
        metres = [
            [round(math.hypot(a.lat - b.lat, a.lon - b.lon) * 100_000) for b in points]
            for a in points
        ]
        seconds = tuple(tuple(math.ceil(m / 10) for m in row) for row in metres)
        return TravelMatrix(seconds, tuple(tuple(row) for row in metres))


def make_visit(id: str, km: float, **overrides: Any) -> Visit:
    """A 10-minute visit ``km`` east of base, bookable all day unless overridden."""
    fields: dict[str, Any] = {
        "id": id,
        "location": km_east(km, overrides.pop("north_km", 0.0)),
        "service_s": 600,
        "windows": (TimeWindow(8 * H, 17 * H),),
    }
    fields.update(overrides)
    return Visit(**fields)


def make_clerk(id: str, **overrides: Any) -> Clerk:
    """A clerk based at the base point, shift 08:00–18:00, no break unless overridden."""
    fields: dict[str, Any] = {
        "id": id,
        "start": BASE,
        "end": BASE,
        "shift_start_s": 8 * H,
        "shift_end_s": 18 * H,
    }
    fields.update(overrides)
    return Clerk(**fields)


def lunch() -> Break:
    """30 minutes starting between 11:30 and 13:30."""
    return Break(duration_s=1800, earliest_start_s=11 * H + 1800, latest_end_s=14 * H)


ProblemFactory = Callable[[Sequence[Visit], Sequence[Clerk]], Problem]


@pytest.fixture
def make_problem() -> ProblemFactory:
    def factory(visits: Sequence[Visit], clerks: Sequence[Clerk]) -> Problem:
        return build_problem(visits, clerks, PlaneTravel())

    return factory


@pytest.fixture
def ok_small(make_problem: ProblemFactory) -> Problem:
    """One clerk, three visits 1, 2 and 3 km east; the farthest must begin at 08:05 exactly.

    Hand-checked answer: leave at 08:00, C (3 km, 300 s) 08:05–08:15, B 08:16:40–08:26:40,
    A 08:28:20–08:38:20, back 08:40:00; 6 km, 600 s travel, no waiting, 2,400 s working.
    """
    visits = [
        make_visit("A", 1),
        make_visit("B", 2),
        make_visit("C", 3, windows=(TimeWindow(8 * H + 300, 8 * H + 300),)),
    ]
    return make_problem(visits, [make_clerk("k1")])


@pytest.fixture
def visit() -> Callable[..., Visit]:
    """Factory: ``visit(id, km, **overrides)``."""
    return make_visit


@pytest.fixture
def clerk() -> Callable[..., Clerk]:
    """Factory: ``clerk(id, **overrides)``."""
    return make_clerk


@pytest.fixture
def east() -> Callable[..., LatLon]:
    """Factory: ``east(km, north_km=0)``, a point relative to the base."""
    return km_east


@pytest.fixture
def lunch_break() -> Break:
    """30 minutes starting between 11:30 and 13:30."""
    return lunch()


@pytest.fixture
def plane() -> PlaneTravel:
    return PlaneTravel()
