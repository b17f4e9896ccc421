"""The OR-Tools engine (``pywrapcp``); the only module of the project that imports ortools.

The model: one OR-Tools node per clerk start, clerk end and routable visit; a time
dimension whose transit is the from-node's service plus travel (seconds, rounded up by the
travel model); span cost per clerk (working time, so waiting costs — without it the search
idles clerks between half-days); arc cost on metres; the lunch break as a fixed-duration
interval of the time dimension; every visit optional through a disjunction whose penalty
dominates any route cost.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.model import Problem, RoutePlan
from routing.solver import (
    Presolved,
    RouteTimes,
    SolveParams,
    finish_plan,
    initial_routes,
    presolve,
)

# From this many routable visits on, neighbourhoods are restricted to the nearest visits.
LARGE = 300
NEIGHBOURS_RATIO = 0.05
MIN_NEIGHBOURS = 20


@dataclass(frozen=True, slots=True)
class _Job:
    """One search: everything a worker process needs (picklable)."""

    problem: Problem
    presolved: Presolved
    params: SolveParams
    first_solution: str
    deadline: float | None
    warm: tuple[tuple[int, ...], ...] | None


class OrToolsSolver:
    """Routing with OR-Tools: insertion start, guided local search, optional warm start."""

    name = "ortools"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        presolved = presolve(problem)
        warm = None
        if params.initial is not None:
            warm = tuple(tuple(r) for r in initial_routes(problem, params.initial, presolved))
        deadline = None if params.time_limit_s is None else time.time() + params.time_limit_s
        jobs = [
            _Job(
                problem,
                presolved,
                params,
                params.first_solutions[w % len(params.first_solutions)],
                deadline,
                warm if w == 0 else None,
            )
            for w in range(params.workers)
        ]
        if len(jobs) == 1:
            results = [_search(jobs[0])]
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(len(jobs) - 1, mp_context=context) as pool:
                futures = [pool.submit(_search, job) for job in jobs[1:]]
                results = [_search(jobs[0])] + [future.result() for future in futures]
        plans = [
            finish_plan(problem, routes, presolved, params.weights, self.name) for routes in results
        ]
        return min(plans, key=lambda plan: plan.objective)


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
    distance_cbs: dict[int, int] = {}
    for k, clerk in enumerate(clerks):
        coefficient = weights.distance_coefficient(clerk)
        if coefficient not in distance_cbs:
            distance_cbs[coefficient] = routing.RegisterTransitMatrix(
                [[coefficient * metres[pa][pb] for pb in points] for pa in points]
            )
        routing.SetArcCostEvaluatorOfVehicle(distance_cbs[coefficient], k)

    horizon = max(clerk.shift_end_s for clerk in clerks)
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
        if clerk.lunch is not None:
            lunch = solver.FixedDurationIntervalVar(
                clerk.lunch.earliest_start_s,
                clerk.lunch.latest_start_s,
                clerk.lunch.duration_s,
                False,
                f"lunch {clerk.id}",
            )
            time_dim.SetBreakIntervalsOfVehicle([lunch], k, visit_transits)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(end))
    if weights.balance:
        time_dim.SetGlobalSpanCostCoefficient(weights.balance)

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
        routing.AddDisjunction([index], weights.penalty(visit))
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
    if params.guided_local_search:
        search.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        search.guided_local_search_lambda_coefficient = params.gls_lambda
    if len(routable) >= LARGE:
        # Large days: local search and insertion look at the nearest neighbours only;
        # measured on 1,000 visits / 50 clerks: 633 instead of 512 visits served in 100 s.
        search.ls_operator_neighbors_ratio = NEIGHBOURS_RATIO
        search.ls_operator_min_neighbors = MIN_NEIGHBOURS
        for insertion in (
            search.global_cheapest_insertion_first_solution_parameters,
            search.global_cheapest_insertion_ls_operator_parameters,
        ):
            insertion.neighbors_ratio = NEIGHBOURS_RATIO
            insertion.min_neighbors = MIN_NEIGHBOURS
    if params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    if job.deadline is not None:
        remaining = max(0.1, job.deadline - time.time())
        search.time_limit.FromMilliseconds(int(remaining * 1000))

    if params.branch_limit is not None:
        routing.AddSearchMonitor(solver.BranchesLimit(params.branch_limit))

    solution = None
    if job.warm is not None and any(job.warm):
        node_of = {i: node for node, i in enumerate(routable, start=2 * n_clerks)}
        routes = [[manager.NodeToIndex(node_of[i]) for i in route] for route in job.warm]
        warm = routing.ReadAssignmentFromRoutes(routes, True)
        if warm is not None:
            solution = routing.SolveFromAssignmentWithParameters(warm, search)
    if solution is None:
        solution = routing.SolveWithParameters(search)
    if solution is None:
        if params.guided_local_search or params.branch_limit is not None:
            # A limit struck before the first solution was complete (breaks make the
            # finalizer branch a lot): take the first solution alone, unlimited.
            first_only = replace(
                params,
                branch_limit=None,
                solution_limit=1,
                guided_local_search=False,
                time_limit_s=None,
            )
            return _search(replace(job, params=first_only, deadline=None))
        return []
    return _read(problem, routing, manager, time_dim, solution, routable, n_clerks)


def _read(
    problem: Problem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    time_dim: pywrapcp.RoutingDimension,
    solution: pywrapcp.Assignment,
    routable: Sequence[int],
    n_clerks: int,
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
        out.append(
            RouteTimes(
                clerk=k,
                visits=tuple(visits),
                start_s=solution.Value(time_dim.CumulVar(routing.Start(k))),
                service_starts=tuple(starts),
                end_s=solution.Value(time_dim.CumulVar(routing.End(k))),
                lunch_start_s=breaks.get(f"lunch {clerk.id}"),
            )
        )
    return out
