"""In-county delivery runs as a capacitated routing problem: the one module of the courier
package that talks to `routing` (problem building and the solver seam).

Parcels are delivered at township level (the offline gazetteer locates an address to its
township seat), so parcels for one place are one delivery stop. A place with at least a
run's capacity of parcels gets full direct runs first (the most urgent parcels first); what
is left at each place is cut into pieces of at most a quarter run, and the pieces of each
zone is one capacitated problem: as few vehicles as serve every stop (from
the lower bound up), each with the run capacity and the maximum run duration, starting
and ending at the depot. Each run then
collects its parcels at the township stations where they wait before delivering
(a station's pickup comes before the first delivery of a parcel waiting there, on arrival
when the station is in that township; the run is re-timed with them, and a run that grows
beyond the maximum duration that way is flagged `over_duration`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import routing
from routing.geo import LatLon
from routing.model import Clerk, Problem, RoutePlan, TimeWindow, Visit, build_problem
from routing.solver import PlanError, SolveParams
from routing.travel import GeodesicTravelModel, TravelModel
from scheduler.courier.settings import CourierSettings


@dataclass(frozen=True, slots=True)
class ParcelIn:
    """One certificate to deliver in the county. `demand` counts its parcels."""

    certificate_id: int
    demand: int
    zone: str
    place: str  # township code: the delivery stop
    location: LatLon  # WGS-84
    office: str  # where it waits
    urgency: int  # promised date as an ordinal: smaller is more urgent


@dataclass(frozen=True, slots=True)
class PlannedStop:
    kind: str  # pickup | deliver
    place: str  # office id (pickup) or township code (deliver)
    location: LatLon
    parcels: int
    arrival_s: int  # seconds from the plan day's midnight


@dataclass(frozen=True, slots=True)
class PlannedRun:
    zone: str
    stops: tuple[PlannedStop, ...]
    certificate_ids: tuple[int, ...]  # in delivery order
    parcels: int
    start_s: int
    duration_s: int
    distance_m: int
    over_duration: bool
    urgency: int


@dataclass(frozen=True, slots=True)
class RunsPlan:
    runs: tuple[PlannedRun, ...]
    unplanned: tuple[int, ...]  # certificate ids no run could take (with the reason below)
    reasons: Mapping[int, str]


Solve = Callable[[Problem, SolveParams], RoutePlan]


def default_solve(problem: Problem, params: SolveParams) -> RoutePlan:
    """`routing.solve` with its default AutoSolver (PyVRP alone for this plain CVRP)."""
    return routing.solve(problem, params)


def default_travel() -> TravelModel:
    return GeodesicTravelModel(ellipsoidal=False)


def plan_runs(
    parcels: Sequence[ParcelIn],
    *,
    depot: LatLon,
    depot_office: str,
    offices: Mapping[str, LatLon],
    settings: CourierSettings,
    start_s: int,
    travel: TravelModel | None = None,
    solve: Solve = default_solve,
) -> RunsPlan:
    """Runs for every zone, most urgent first; parcels nobody can take are reported."""
    travel = travel or default_travel()
    by_zone: dict[str, list[ParcelIn]] = defaultdict(list)
    for p in parcels:
        if p.demand > settings.run_capacity:
            raise ValueError(f"certificate {p.certificate_id} has more parcels than a run holds")
        by_zone[p.zone].append(p)
    runs: list[PlannedRun] = []
    unplanned: list[int] = []
    reasons: dict[int, str] = {}
    for zone in sorted(by_zone):
        zone_runs, left = _plan_zone(zone, by_zone[zone], depot, settings, start_s, travel, solve)
        for ids in zone_runs:
            runs.append(
                _timed(
                    zone,
                    ids,
                    by_zone[zone],
                    depot,
                    depot_office,
                    offices,
                    settings,
                    start_s,
                    travel,
                )
            )
        for cid in left:
            unplanned.append(cid)
            reasons[cid] = "无法在单趟最长时长内往返送达"
    runs.sort(key=lambda r: (r.urgency, r.zone, r.certificate_ids))
    return RunsPlan(tuple(runs), tuple(unplanned), reasons)


def _plan_zone(
    zone: str,
    parcels: list[ParcelIn],
    depot: LatLon,
    settings: CourierSettings,
    start_s: int,
    travel: TravelModel,
    solve: Solve,
) -> tuple[list[list[int]], list[int]]:
    cap = settings.run_capacity
    by_place: dict[str, list[ParcelIn]] = defaultdict(list)
    for p in sorted(parcels, key=lambda p: (p.urgency, p.certificate_id)):
        by_place[p.place].append(p)
    runs: list[list[int]] = []
    rest: list[tuple[str, list[ParcelIn]]] = []
    for place in sorted(by_place):
        queue = by_place[place]
        while sum(p.demand for p in queue) >= cap:
            chunk: list[ParcelIn] = []
            load = 0
            for p in list(queue):
                if load + p.demand <= cap:
                    chunk.append(p)
                    load += p.demand
                    queue.remove(p)
                if load == cap:
                    break
            runs.append([p.certificate_id for p in chunk])
        if queue:
            rest.append((place, queue))
    if not rest:
        return runs, []
    end_s = start_s + settings.max_run_s
    # What is left at a place may go out on more than one run (split delivery): the rest
    # is cut into pieces of at most a quarter run, so the runs pack nearly full.
    piece = max(1, cap // 4)
    pieces: list[tuple[str, list[ParcelIn]]] = []
    for place, queue in rest:
        current: list[ParcelIn] = []
        for p in queue:
            if current and sum(q.demand for q in current) + p.demand > piece:
                pieces.append((f"{place}#{len(pieces)}", current))
                current = []
            current.append(p)
        pieces.append((f"{place}#{len(pieces)}", current))
    visits = [
        Visit(
            id=key,
            location=group[0].location,
            service_s=settings.stop_s + settings.parcel_s * sum(p.demand for p in group),
            windows=(TimeWindow(start_s, end_s),),
            demand=sum(p.demand for p in group),
        )
        for key, group in pieces
    ]
    params = SolveParams(
        time_limit_s=settings.solver_time_limit_s, branch_limit=settings.solver_branch_limit
    )
    # The objective has no price per vehicle, so fewer runs are found by asking: the
    # lower bound of vehicles first, one more while some stop is left out.
    demand = sum(v.demand for v in visits)
    for k in range(max(1, -(-demand // cap)), len(visits) + 1):
        vehicles = [
            Clerk(
                id=f"{zone}-{n + 1}",
                start=depot,
                end=depot,
                shift_start_s=start_s,
                shift_end_s=end_s,
                max_working_s=settings.max_run_s,
                capacity=cap,
            )
            for n in range(k)
        ]
        try:
            plan = solve(build_problem(visits, vehicles, travel), params)
        except PlanError:
            # PyVRP hands back its best solution even when it breaks capacity (too few
            # vehicles); the routing check refuses it: take that as "one more run".
            if k == len(visits):
                raise
            continue
        if not plan.unassigned:
            break
    groups = dict(pieces)
    for route in plan.routes:
        runs.append([p.certificate_id for s in route.stops for p in groups[s.visit_id]])
    left = [p.certificate_id for u in plan.unassigned for p in groups[u.visit_id]]
    return runs, left


def _timed(
    zone: str,
    ids: list[int],
    parcels: list[ParcelIn],
    depot: LatLon,
    depot_office: str,
    offices: Mapping[str, LatLon],
    settings: CourierSettings,
    start_s: int,
    travel: TravelModel,
) -> PlannedRun:
    """The run's itinerary: deliveries in planned order, each station's pickup first."""
    by_id = {p.certificate_id: p for p in parcels}
    chosen = [by_id[i] for i in ids]
    deliveries: list[tuple[str, LatLon, int]] = []
    for p in chosen:
        if deliveries and deliveries[-1][0] == p.place:
            place, loc, n = deliveries[-1]
            deliveries[-1] = (place, loc, n + p.demand)
        else:
            deliveries.append((p.place, p.location, p.demand))
    pickup_load: dict[str, int] = defaultdict(int)
    for p in chosen:
        if p.office != depot_office:
            pickup_load[p.office] += p.demand
    # Each station is visited before the first delivery of a parcel waiting there; a
    # station in the town being delivered is visited on arrival (no detour).
    itinerary: list[tuple[str, str, LatLon, int]] = []
    visited: set[str] = set()
    for place, loc, n in deliveries:
        needed = {p.office for p in chosen if p.place == place and p.office in pickup_load}
        for office in sorted(needed - visited, key=lambda o: (_near(offices[o], loc), o)):
            itinerary.append(("pickup", office, offices[office], pickup_load[office]))
            visited.add(office)
        itinerary.append(("deliver", place, loc, n))
    points = [depot] + [loc for _, _, loc, _ in itinerary] + [depot]
    matrix = travel.matrix(points)
    t = start_s
    metres = 0
    stops: list[PlannedStop] = []
    for n, (kind, place, loc, count) in enumerate(itinerary, start=1):
        t += matrix.seconds[n - 1][n]
        metres += matrix.metres[n - 1][n]
        stops.append(PlannedStop(kind, place, loc, count, t))
        t += settings.pickup_s if kind == "pickup" else settings.stop_s + settings.parcel_s * count
    last = len(points) - 1
    t += matrix.seconds[last - 1][last]
    metres += matrix.metres[last - 1][last]
    duration = t - start_s
    return PlannedRun(
        zone=zone,
        stops=tuple(stops),
        certificate_ids=tuple(ids),
        parcels=sum(p.demand for p in chosen),
        start_s=start_s,
        duration_s=duration,
        distance_m=metres,
        over_duration=duration > settings.max_run_s,
        urgency=min(p.urgency for p in chosen),
    )


def _near(a: LatLon, b: LatLon) -> bool:
    """Within about 500 m: a station at the township seat it serves."""
    return abs(a.lat - b.lat) < 0.005 and abs(a.lon - b.lon) < 0.005
