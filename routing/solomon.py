"""Solomon VRPTW instances (VRPLIB text, node 1 = depot) as routing problems.

Used by the benchmarks and tests. Solomon distances are Euclidean and travel time equals
distance; both are fractional, so they are scaled by ``scale`` to integers: travel seconds
rounded *up* (a plan on time for the solver is on time in exact arithmetic), metres rounded
to nearest. The plane coordinates become synthetic :class:`~routing.geo.LatLon` values
(``lat = y / 1000``, ``lon = x / 1000``) that only label the points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from routing.geo import LatLon
from routing.model import Clerk, ObjectiveWeights, Problem, TimeWindow, Visit
from routing.travel import TravelMatrix

# Distance only: no working-time, balance or waiting terms (Solomon's distance objective).
DISTANCE_ONLY = ObjectiveWeights(working_s=0, distance_m=1, balance=0)


@dataclass(frozen=True, slots=True)
class Instance:
    """A Solomon instance as read: node 0 is the depot, customers are 1..n."""

    name: str
    vehicles: int
    capacity: int
    coords: tuple[tuple[float, float], ...]
    demands: tuple[int, ...]
    windows: tuple[tuple[int, int], ...]
    service: tuple[int, ...]

    @property
    def customers(self) -> int:
        return len(self.coords) - 1

    def distance(self, a: int, b: int) -> float:
        (xa, ya), (xb, yb) = self.coords[a], self.coords[b]
        return math.hypot(xa - xb, ya - yb)


def read_instance(path: Path) -> Instance:
    """Parse a VRPLIB CVRPTW file (one service time for all customers or a section)."""
    header: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            current = line
            sections[current] = []
        elif ":" in line and current is None:
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif current is not None:
            sections[current].append(line.split())
    n = int(header["DIMENSION"])
    coords = [(0.0, 0.0)] * n
    for node, x, y in sections["NODE_COORD_SECTION"]:
        coords[int(node) - 1] = (float(x), float(y))
    demands = [0] * n
    for node, q in sections["DEMAND_SECTION"]:
        demands[int(node) - 1] = int(q)
    windows = [(0, 0)] * n
    for node, a, b in sections["TIME_WINDOW_SECTION"]:
        windows[int(node) - 1] = (int(a), int(b))
    if "SERVICE_TIME_SECTION" in sections:
        service = [0] * n
        for node, s in sections["SERVICE_TIME_SECTION"]:
            service[int(node) - 1] = int(s)
    else:
        service = [0] + [int(header["SERVICE_TIME"])] * (n - 1)
    depots = [int(row[0]) for row in sections.get("DEPOT_SECTION", []) if int(row[0]) > 0]
    if depots and depots != [1]:
        raise ValueError(f"{path}: only node 1 as the single depot is supported")
    return Instance(
        name=header.get("NAME", path.stem),
        vehicles=int(header["VEHICLES"]),
        capacity=int(header["CAPACITY"]),
        coords=tuple(coords),
        demands=tuple(demands),
        windows=tuple(windows),
        service=tuple(service),
    )


def to_problem(instance: Instance, scale: int = 1000) -> Problem:
    """The instance as a problem: one clerk per vehicle at the depot, one visit per customer."""
    n = instance.customers
    depot_x, depot_y = instance.coords[0]
    depot = LatLon(depot_y / 1000, depot_x / 1000)
    ready, due = instance.windows[0]
    clerks = tuple(
        Clerk(
            id=f"vehicle {v + 1}",
            start=depot,
            end=depot,
            shift_start_s=ready * scale,
            shift_end_s=due * scale,
            capacity=instance.capacity,
        )
        for v in range(instance.vehicles)
    )
    visits = tuple(
        Visit(
            id=str(c),
            location=LatLon(instance.coords[c][1] / 1000, instance.coords[c][0] / 1000),
            service_s=instance.service[c] * scale,
            windows=(TimeWindow(instance.windows[c][0] * scale, instance.windows[c][1] * scale),),
            demand=instance.demands[c],
        )
        for c in range(1, n + 1)
    )
    # Matrix points: clerk starts, clerk ends (all the depot), then customers 1..n.
    nodes = [0] * (2 * instance.vehicles) + list(range(1, n + 1))
    seconds = tuple(tuple(math.ceil(instance.distance(a, b) * scale) for b in nodes) for a in nodes)
    metres = tuple(tuple(round(instance.distance(a, b) * scale) for b in nodes) for a in nodes)
    return Problem(visits, clerks, TravelMatrix(seconds, metres))


@dataclass(frozen=True, slots=True)
class Score:
    """Routes evaluated in double precision."""

    distance: float
    vehicles: int
    feasible: bool
    problems: tuple[str, ...]


def score(instance: Instance, routes: Sequence[Sequence[int]]) -> Score:
    """Distance and feasibility of routes given as customer numbers, in double precision."""
    problems: list[str] = []
    seen: dict[int, int] = {}
    total = 0.0
    used = 0
    depot_due = instance.windows[0][1]
    for r, route in enumerate(routes):
        if not route:
            continue
        used += 1
        t = float(instance.windows[0][0])
        load = 0
        previous = 0
        for c in route:
            if not 1 <= c <= instance.customers:
                problems.append(f"route {r}: no customer {c}")
                continue
            seen[c] = seen.get(c, 0) + 1
            d = instance.distance(previous, c)
            total += d
            t = max(t + d, float(instance.windows[c][0]))
            if t > instance.windows[c][1]:
                problems.append(
                    f"route {r}: customer {c} starts {t:.4f} > {instance.windows[c][1]}"
                )
            t += instance.service[c]
            load += instance.demands[c]
            previous = c
        d = instance.distance(previous, 0)
        total += d
        if t + d > depot_due:
            problems.append(f"route {r}: back at {t + d:.4f} > {depot_due}")
        if load > instance.capacity:
            problems.append(f"route {r}: load {load} > {instance.capacity}")
    missing = [c for c in range(1, instance.customers + 1) if c not in seen]
    if missing:
        problems.append(f"{len(missing)} customers not served")
    twice = [c for c, count in seen.items() if count > 1]
    if twice:
        problems.append(f"customers served twice: {twice}")
    if used > instance.vehicles:
        problems.append(f"{used} routes, only {instance.vehicles} vehicles")
    return Score(total, used, not problems, tuple(problems))
