"""The OR-Tools engine (``pywrapcp``); the only module of the project that imports ortools.

The model: one OR-Tools node per clerk start, clerk end and routable visit; a time
dimension whose transit is the from-node's service plus travel (seconds, rounded up by the
travel model); span cost per clerk (working time, so waiting costs — without it the search
idles clerks between half-days); arc cost on metres; the lunch break as time on the arc
that crosses it where every visit of the clerk lies on a known side of it (``_LunchSplit``:
morning and afternoon visits around the county's lunch hour), else as a fixed-duration
interval of the time dimension; every visit optional through a disjunction whose penalty
dominates any route cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing import _portfolio
from routing.model import Break, Problem, RoutePlan, Visit, visit_penalties
from routing.solver import (
    NoSolutionError,
    Presolved,
    RouteTimes,
    SolveParams,
    finish_plan,
    initial_routes,
    presolve,
    previous_clerks,
)

log = logging.getLogger(__name__)

# From this many routable visits on, local search looks at the nearest visits only.
LARGE = 300
NEIGHBOURS_RATIO = 0.05
MIN_NEIGHBOURS = 20
FINALIZE_ENDS = True
FINALIZE_VISITS = False
_PARTIAL = routing_enums_pb2.RoutingSearchStatus.ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED
# Re-planning costs: per-clerk arc matrices up to this many entries in all.
MATRIX_ENTRIES = 4_000_000
# How long restoring a warm start may take when the search has no time limit.
WARM_RESTORE_MS = 60_000
# Lunch as time on the one arc that crosses it, where every visit of the clerk is on a
# known side of it (see _LunchSplit); otherwise OR-Tools' break intervals.
SPLIT_LUNCH = True
BEFORE, AFTER = "before", "after"


@dataclass(frozen=True, slots=True)
class _Job:
    """One search: everything a worker process needs (picklable)."""

    problem: Problem
    presolved: Presolved
    params: SolveParams
    first_solution: str
    warm: tuple[tuple[int, ...], ...] | None


class OrToolsSolver:
    """Routing with OR-Tools: insertion start, guided local search, optional warm start."""

    name = "ortools"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        started = time.monotonic()
        presolved = presolve(problem)
        warm = None
        start_from = params.initial if params.initial is not None else params.previous
        if start_from is not None:
            warm = tuple(tuple(r) for r in initial_routes(problem, start_from, presolved))
        if params.time_limit_s is not None:
            # The pre-solve and the warm start came out of this search's time.
            left = max(0.1, params.time_limit_s - (time.monotonic() - started))
            params = _with_time(params, left)
        jobs = [
            _Job(
                problem,
                presolved,
                params,
                params.first_solutions[w % len(params.first_solutions)],
                warm if w == 0 else None,
            )
            for w in range(params.workers)
        ]
        results = _portfolio.race(lambda: _search(jobs[0]), [(_search, (job,)) for job in jobs[1:]])
        plans = [
            finish_plan(problem, routes, presolved, params.weights, self.name, params.previous)
            for routes in _portfolio.succeeded(results)
        ]
        return min(plans, key=lambda plan: plan.objective)


def _with_time(params: SolveParams, seconds: float) -> SolveParams:
    return replace(params, time_limit_s=seconds)


def _search(job: _Job) -> list[RouteTimes]:
    """Build the OR-Tools model for one job, search, and read the routes and times back."""
    problem, presolved, params = job.problem, job.presolved, job.params
    weights = params.weights
    clerks = problem.clerks
    n_clerks = len(clerks)
    routable = [i for i, allowed in enumerate(presolved.eligible) if allowed]
    # OR-Tools node -> problem point; visits after the 2K clerk places.
    points = list(range(2 * n_clerks)) + [problem.visit_point(i) for i in routable]
    n_nodes = len(points)
    service = [0] * (2 * n_clerks) + [problem.visits[i].service_s for i in routable]

    manager = pywrapcp.RoutingIndexManager(
        n_nodes,
        n_clerks,
        [problem.start_point(k) for k in range(n_clerks)],
        [problem.end_point(k) for k in range(n_clerks)],
    )
    routing = pywrapcp.RoutingModel(manager)

    seconds = problem.matrix.seconds
    metres = problem.matrix.metres
    time_matrix = [
        [service[a] + seconds[pa][pb] for b, pb in enumerate(points)] for a, pa in enumerate(points)
    ]
    time_cb = routing.RegisterTransitMatrix(time_matrix)
    # Re-planning: arriving at a visit costs ``changed_clerk`` for every clerk but the one
    # who had it in the previous plan, so each clerk gets an arc matrix of their own.
    had = previous_clerks(problem, params.previous)
    clerk_ids = [clerk.id for clerk in clerks]
    owner: list[str | None] = [None] * (2 * n_clerks)
    owner += [had.get(problem.visits[i].id) for i in routable]
    callbacks: list[Callable[[int, int], int]] = []  # kept alive for the search
    distance_cbs: dict[tuple[int, str | None], int] = {}
    # One matrix per clerk while they are small; a callback beyond (memory).
    as_matrix = not had or n_nodes * n_nodes * n_clerks <= MATRIX_ENTRIES
    for k, clerk in enumerate(clerks):
        coefficient = weights.distance_coefficient(clerk)
        key = (coefficient, clerk.id if had else None)
        if key in distance_cbs:
            pass
        elif not had:
            distance_cbs[key] = routing.RegisterTransitMatrix(
                [[coefficient * metres[pa][pb] for pb in points] for pa in points]
            )
        else:
            extra = [
                weights.changed_clerk if who is not None and who != clerk_ids[k] else 0
                for who in owner
            ]
            if as_matrix:
                distance_cbs[key] = routing.RegisterTransitMatrix(
                    [
                        [coefficient * metres[pa][pb] + extra[b] for b, pb in enumerate(points)]
                        for pa in points
                    ]
                )
            else:
                callbacks.append(_arc_cost(manager, points, metres, coefficient, extra))
                distance_cbs[key] = routing.RegisterTransitCallback(callbacks[-1])
        routing.SetArcCostEvaluatorOfVehicle(distance_cbs[key], k)

    horizon = max(clerk.shift_end_s for clerk in clerks)
    splits = _lunch_splits(problem, routable, presolved) if SPLIT_LUNCH else {}
    if splits:
        split_cbs = {
            brk: routing.RegisterTransitMatrix(
                _with_lunch_arcs(time_matrix, brk, problem, routable, n_clerks)
            )
            for brk in {split.lunch for split in splits.values()}
        }
        transits = [split_cbs[splits[k].lunch] if k in splits else time_cb for k in range(n_clerks)]
        routing.AddDimensionWithVehicleTransits(transits, horizon, horizon, False, "time")
    else:
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    solver = routing.solver()
    visit_transits = [0] * routing.Size()
    for index in range(routing.Size()):
        visit_transits[index] = service[manager.IndexToNode(index)]
    for k, clerk in enumerate(clerks):
        start = routing.Start(k)
        end = routing.End(k)
        time_dim.CumulVar(start).SetRange(clerk.shift_start_s, clerk.shift_end_s)
        time_dim.CumulVar(end).SetRange(clerk.shift_start_s, clerk.shift_end_s)
        time_dim.SetSpanCostCoefficientForVehicle(weights.working_coefficient(clerk), k)
        if clerk.max_working_s is not None:
            time_dim.SetSpanUpperBoundForVehicle(clerk.max_working_s, k)
        if k in splits:
            # Lunch in the leg that leaves at or before its latest start, or before leaving
            # (start from its earliest end on), or after coming back.
            lunch_end, latest = splits[k].lunch.earliest_end_s, splits[k].lunch.latest_start_s
            if latest + 1 <= lunch_end - 1:
                time_dim.CumulVar(start).RemoveInterval(latest + 1, lunch_end - 1)
                time_dim.CumulVar(end).RemoveInterval(latest + 1, lunch_end - 1)
        elif clerk.lunch is not None:
            lunch = solver.FixedDurationIntervalVar(
                clerk.lunch.earliest_start_s,
                clerk.lunch.latest_start_s,
                clerk.lunch.duration_s,
                False,
                f"lunch {clerk.id}",
            )
            time_dim.SetBreakIntervalsOfVehicle([lunch], k, visit_transits)
        if FINALIZE_ENDS:
            routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(start))
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(end))
    if weights.balance:
        time_dim.SetGlobalSpanCostCoefficient(weights.balance)

    penalties = visit_penalties(problem, weights)
    for node, i in enumerate(routable, start=2 * n_clerks):
        visit = problem.visits[i]
        index = manager.NodeToIndex(node)
        cumul = time_dim.CumulVar(index)
        cumul.SetRange(visit.windows[0].start_s, visit.windows[-1].end_s)
        for before, after in zip(visit.windows, visit.windows[1:], strict=False):
            cumul.RemoveInterval(before.end_s + 1, after.start_s - 1)
        allowed = list(presolved.eligible[i])
        if len(allowed) < n_clerks:
            routing.VehicleVar(index).SetValues([-1, *allowed])
        routing.AddDisjunction([index], penalties[i])
        if FINALIZE_VISITS:
            routing.AddVariableMinimizedByFinalizer(cumul)

    if any(clerk.max_visits is not None for clerk in clerks):
        ones = [0] * (2 * n_clerks) + [1] * len(routable)
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(ones),
            0,
            [len(routable) if c.max_visits is None else c.max_visits for c in clerks],
            True,
            "visits",
        )
    if any(clerk.capacity is not None for clerk in clerks):
        demand = [0] * (2 * n_clerks) + [problem.visits[i].demand for i in routable]
        total = sum(demand)
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(demand),
            0,
            [total if c.capacity is None else c.capacity for c in clerks],
            True,
            "load",
        )

    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, job.first_solution
    )
    # Moving a served visit aside to serve one more (off by default in OR-Tools): days with
    # visit caps and lunches are tight; without it the search left 2 of the 30 visits of a
    # day VROOM serves whole unserved (benchmarks/home_visits.py day 30/1, docs/benchmarks.md).
    search.local_search_operators.use_relocate_and_make_active = optional_boolean_pb2.BOOL_TRUE
    if params.guided_local_search:
        search.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        search.guided_local_search_lambda_coefficient = params.gls_lambda
    if len(routable) >= LARGE:
        # Large days: local search moves look at the nearest neighbours only; measured on
        # 1,000 visits / 50 clerks: 633 instead of 512 visits served in 100 s.
        search.ls_operator_neighbors_ratio = NEIGHBOURS_RATIO
        search.ls_operator_min_neighbors = MIN_NEIGHBOURS
    if params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    if params.time_limit_s is not None:
        search.time_limit.FromMilliseconds(max(1, int(params.time_limit_s * 1000)))
    if params.branch_limit is not None:
        routing.AddSearchMonitor(solver.BranchesLimit(params.branch_limit))

    # A warm start is given as Next values only (RoutesToAssignment); the search restores
    # its times and lunches in a completion search bounded by ``lns_time_limit``, whose
    # default (0.1 s) is too short from about 400 visits with lunches: such starts were
    # rejected as ROUTING_FAIL on 500 and 1,000 visits. (The default operators run no
    # other CP completion.) ReadAssignmentFromRoutes is not used: it restores the times
    # once more, for up to the time limit (5 s on 1,000 visits), which is why warm starts
    # took twice their limit. The model is closed with *these* parameters first.
    warm_routes = job.warm if job.warm is not None and any(job.warm) else None
    if warm_routes is not None:
        restore_ms = WARM_RESTORE_MS
        if params.time_limit_s is not None:
            restore_ms = max(100, int(params.time_limit_s * 1000))
        search.lns_time_limit.FromMilliseconds(restore_ms)
    routing.CloseModelWithParameters(search)
    solution = None
    began = time.monotonic()
    if warm_routes is not None:
        node_of = {i: node for node, i in enumerate(routable, start=2 * n_clerks)}
        indices = [[manager.NodeToIndex(node_of[i]) for i in route] for route in warm_routes]
        warm = routing.solver().Assignment()
        if routing.RoutesToAssignment(indices, True, True, warm):
            solution = routing.SolveFromAssignmentWithParameters(warm, search)
        if solution is None:
            log.warning("OR-Tools rejected the warm start (status %s)", routing.status())
            if params.time_limit_s is not None:
                # A search from scratch gets only what the failed one left.
                left = params.time_limit_s - (time.monotonic() - began)
                if left <= 0:
                    raise NoSolutionError("OR-Tools rejected the warm start; no time left")
                search.time_limit.FromMilliseconds(max(1, int(left * 1000)))
    if solution is None:
        solution = routing.SolveWithParameters(search)
    if solution is None:
        raise NoSolutionError(
            f"OR-Tools found no first plan within its limits (status {routing.status()})"
        )
    routes = _read(problem, routing, manager, time_dim, solution, routable, n_clerks, splits)
    cut_short = routing.status() == _PARTIAL
    if cut_short and routable and not any(r.visits for r in routes):
        # The limit struck while the first plan was being built: what OR-Tools returns
        # then leaves every visit out, which would be reported as a full day.
        raise NoSolutionError("OR-Tools found no first plan within its limits (cut short)")
    return routes


def _arc_cost(
    manager: pywrapcp.RoutingIndexManager,
    points: Sequence[int],
    metres: Sequence[Sequence[int]],
    coefficient: int,
    extra: Sequence[int],
) -> Callable[[int, int], int]:
    def cost(a: int, b: int) -> int:
        na = manager.IndexToNode(a)
        nb = manager.IndexToNode(b)
        return int(coefficient * metres[points[na]][points[nb]] + extra[nb])

    return cost


@dataclass(frozen=True, slots=True)
class _LunchSplit:
    """A clerk whose every visit is on a known side of the lunch: ``BEFORE`` when the visit
    must begin before the lunch could end and always ends before its latest start,
    ``AFTER`` when it must end after the lunch's latest start and always begins after the
    lunch could end. Every route is then its BEFORE visits and then its AFTER visits, and
    OR-Tools needs no break interval (whose propagation let local search evaluate about a
    thirteenth as many moves, docs/benchmarks.md): the time transit of each arc from the
    start or a BEFORE visit to the end or an AFTER visit — the one arc of a route that
    crosses the lunch — counts its duration. This is exact, given a lunch window inside
    the shift and no bound on the working time:

    - with visits on both sides the lunch can only fall on that arc (before leaving, it
      would end before a BEFORE visit begins; after coming back, start after an AFTER
      visit ends). Taken there it starts at ``max(departure, earliest start)``, at most
      its latest start, with the road around it, so the next service can begin from
      ``departure + travel + duration`` and from the earliest end, which every AFTER
      visit's window already implies;
    - with one side only, the clerk may also lunch after coming back (by the latest
      start) or before leaving (from the earliest end): the end or start then moves by
      the duration, which the shift admits, and neither may fall between the latest
      start and the earliest end, where no lunch fits. The working time the search sees
      is then one lunch too long (a bound on it, ``max_working_s``, would have to allow
      for that: such clerks keep the break interval); the plan is re-timed afterwards
      (`finish_plan`), which puts the lunch outside the route.
    """

    lunch: Break
    sides: dict[int, str]  # visit index -> BEFORE | AFTER, for the clerk's visits


def _side(lunch: Break, visit: Visit) -> str | None:
    first, last = visit.windows[0].start_s, visit.windows[-1].end_s
    if last < lunch.earliest_end_s and last + visit.service_s <= lunch.latest_start_s:
        return BEFORE
    if first >= lunch.earliest_end_s and first + visit.service_s > lunch.latest_start_s:
        return AFTER
    return None


def _lunch_splits(
    problem: Problem, routable: Sequence[int], presolved: Presolved
) -> dict[int, _LunchSplit]:
    """The clerks whose lunch can be modelled on the arc that crosses it, by clerk index."""
    out = {}
    for k, clerk in enumerate(problem.clerks):
        lunch = clerk.lunch
        if lunch is None or clerk.max_working_s is not None:
            # No lunch; or a bound on the working time, which may need the lunch outside
            # the route (see _LunchSplit).
            continue
        if lunch.earliest_start_s < clerk.shift_start_s or lunch.latest_end_s > clerk.shift_end_s:
            continue  # a lunch window reaching outside the shift
        sides = {i: _side(lunch, problem.visits[i]) for i in routable}
        mine = [i for i in routable if k in presolved.eligible[i]]
        if all(sides[i] is not None for i in mine):
            out[k] = _LunchSplit(lunch, {i: s for i, s in sides.items() if s is not None})
    return out


def _with_lunch_arcs(
    time_matrix: Sequence[Sequence[int]],
    lunch: Break,
    problem: Problem,
    routable: Sequence[int],
    n_clerks: int,
) -> list[list[int]]:
    """The time transits plus the lunch on every arc from a start or a BEFORE visit to an
    end or an AFTER visit (for the clerks with this lunch, see _LunchSplit)."""
    sides = [_side(lunch, problem.visits[i]) for i in routable]
    leaves = [True] * n_clerks + [False] * n_clerks + [s == BEFORE for s in sides]
    reaches = [False] * n_clerks + [True] * n_clerks + [s == AFTER for s in sides]
    pause = lunch.duration_s
    return [
        [t + pause if leaves[a] and reaches[b] else t for b, t in enumerate(row)]
        for a, row in enumerate(time_matrix)
    ]


def _split_lunch_start(
    problem: Problem,
    split: _LunchSplit,
    visits: Sequence[int],
    starts: Sequence[int],
    start_s: int,
    end_s: int,
) -> int:
    """Where the lunch goes on a route of a split clerk: after coming back when the clerk
    is back by its latest start and no AFTER visit follows, before leaving when the route
    starts after its earliest end and no BEFORE visit comes first, else on the arc that
    crosses it, at the departure (or its earliest start, if later)."""
    lunch = split.lunch
    p = sum(1 for i in visits if split.sides[i] == BEFORE)
    if p == len(visits) and end_s <= lunch.latest_start_s:
        return max(end_s, lunch.earliest_start_s)
    if p == 0 and start_s >= lunch.earliest_end_s:
        return min(start_s - lunch.duration_s, lunch.latest_start_s)
    departure = start_s if p == 0 else starts[p - 1] + problem.visits[visits[p - 1]].service_s
    return max(departure, lunch.earliest_start_s)


def _read(
    problem: Problem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    time_dim: pywrapcp.RoutingDimension,
    solution: pywrapcp.Assignment,
    routable: Sequence[int],
    n_clerks: int,
    splits: dict[int, _LunchSplit],
) -> list[RouteTimes]:
    breaks = {}
    intervals = solution.IntervalVarContainer()
    for e in range(intervals.Size()):
        element = intervals.Element(e)
        breaks[element.Var().Name()] = element.StartValue()
    out: list[RouteTimes] = []
    for k, clerk in enumerate(problem.clerks):
        index = solution.Value(routing.NextVar(routing.Start(k)))
        visits: list[int] = []
        starts: list[int] = []
        while not routing.IsEnd(index):
            visits.append(routable[manager.IndexToNode(index) - 2 * n_clerks])
            starts.append(solution.Value(time_dim.CumulVar(index)))
            index = solution.Value(routing.NextVar(index))
        start_s = solution.Value(time_dim.CumulVar(routing.Start(k)))
        end_s = solution.Value(time_dim.CumulVar(routing.End(k)))
        lunch_start = breaks.get(f"lunch {clerk.id}")
        if k in splits and visits:
            lunch_start = _split_lunch_start(problem, splits[k], visits, starts, start_s, end_s)
        out.append(
            RouteTimes(
                clerk=k,
                visits=tuple(visits),
                start_s=start_s,
                service_starts=tuple(starts),
                end_s=end_s,
                lunch_start_s=lunch_start,
            )
        )
    return out
