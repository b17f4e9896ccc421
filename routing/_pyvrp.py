"""A PyVRP engine behind the :class:`~routing.solver.Solver` protocol, for plain VRPTW days.

PyVRP (hybrid genetic search) is far stronger than OR-Tools on plain time-window problems,
but it has no lunch breaks, skills, pins, visit counts or multiple windows per visit:
:func:`expressible` says whether a problem is within its reach, and
:class:`routing.auto.AutoSolver` picks it only then. Its plans are evaluated with our
objective and checked by :func:`routing.check.check_plan` like any other.

pyvrp is imported only here; it is a runtime dependency of the project.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from routing import _portfolio
from routing.model import Problem, RoutePlan, visit_penalties
from routing.solver import RouteTimes, SolveParams, finish_plan, presolve

# Without a time limit, PyVRP runs branch_limit // ITERATIONS_PER_BRANCHES iterations.
ITERATIONS_PER_BRANCHES = 100


def expressible(problem: Problem) -> bool:
    """True if PyVRP can hold every rule of the problem."""
    return all(
        clerk.lunch is None and clerk.max_visits is None for clerk in problem.clerks
    ) and all(
        visit.skill is None and visit.clerk_id is None and len(visit.windows) == 1
        for visit in problem.visits
    )


def can_stop(params: SolveParams) -> bool:
    """True if PyVRP can bound this search: it stops by time or iterations, not solutions."""
    return params.time_limit_s is not None or params.branch_limit is not None


class PyVrpSolver:
    """Plan with PyVRP's hybrid genetic search (one thread, seeded)."""

    name = "pyvrp"

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        """One search per worker, seeds ``seed``, ``seed + 1``, ...; the best plan is kept."""
        if not expressible(problem):
            raise ValueError("PyVRP cannot express breaks, skills, pins, visit limits or windows")
        if params.previous is not None:
            raise ValueError("PyVRP cannot express a preference for each visit's previous clerk")
        if not can_stop(params):
            raise ValueError("PyVRP stops by time or iterations: give time_limit_s or branch_limit")
        if params.workers == 1:
            return self._solve(problem, params)
        alone = replace(params, workers=1)
        seeds = [self.seed + w for w in range(1, params.workers)]
        results = _portfolio.race(
            lambda: self._solve(problem, alone),
            [(_solve_by, (seed, problem, alone)) for seed in seeds],
        )
        return min(_portfolio.succeeded(results), key=lambda plan: plan.objective)

    def _solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        presolved = presolve(problem)
        weights = params.weights
        model = pyvrp.Model()
        has_capacity = any(clerk.capacity is not None for clerk in problem.clerks)
        total_demand = sum(visit.demand for visit in problem.visits)

        # One PyVRP location per distinct clerk place (by coordinates) and per visit; each
        # stands for the matrix row of its first point.
        places: dict[tuple[float, float], int] = {}
        rows: list[int] = []
        locations: list[Any] = []
        point_location: dict[int, int] = {}
        for k, clerk in enumerate(problem.clerks):
            for point, where in (
                (problem.start_point(k), clerk.start),
                (problem.end_point(k), clerk.end),
            ):
                key = (where.lat, where.lon)
                if key not in places:
                    places[key] = len(rows)
                    rows.append(point)
                    locations.append(model.add_location(where.lon, where.lat))
                point_location[point] = places[key]
        depots = {loc: model.add_depot(locations[loc]) for loc in sorted(set(places.values()))}

        routable = [i for i, allowed in enumerate(presolved.eligible) if allowed]
        penalties = visit_penalties(problem, weights)
        for i in routable:
            visit = problem.visits[i]
            point = problem.visit_point(i)
            point_location[point] = len(rows)
            rows.append(point)
            location = model.add_location(visit.location.lon, visit.location.lat)
            locations.append(location)
            model.add_client(
                location,
                delivery=[visit.demand] if has_capacity else [],
                service_duration=visit.service_s,
                tw_early=visit.windows[0].start_s,
                tw_late=visit.windows[0].end_s,
                prize=penalties[i],
                required=False,
            )
        seconds = problem.matrix.seconds
        metres = problem.matrix.metres
        for a, pa in enumerate(rows):
            for b, pb in enumerate(rows):
                if a != b:
                    model.add_edge(locations[a], locations[b], metres[pa][pb], seconds[pa][pb])

        # Clerks alike in every rule share a vehicle type; remember which clerks each holds.
        type_clerks: dict[tuple[object, ...], list[int]] = {}
        for k, clerk in enumerate(problem.clerks):
            type_key = (
                point_location[problem.start_point(k)],
                point_location[problem.end_point(k)],
                clerk.shift_start_s,
                clerk.shift_end_s,
                clerk.capacity,
                clerk.max_working_s,
                weights.distance_coefficient(clerk),
                weights.working_coefficient(clerk),
            )
            type_clerks.setdefault(type_key, []).append(k)
        type_order = list(type_clerks)
        for held in type_order:
            k = type_clerks[held][0]
            clerk = problem.clerks[k]
            extra: dict[str, Any] = {}
            if clerk.max_working_s is not None:
                extra["shift_duration"] = clerk.max_working_s
            if has_capacity:
                extra["capacity"] = [total_demand if clerk.capacity is None else clerk.capacity]
            model.add_vehicle_type(
                num_available=len(type_clerks[held]),
                start_depot=depots[point_location[problem.start_point(k)]],
                end_depot=depots[point_location[problem.end_point(k)]],
                tw_early=clerk.shift_start_s,
                tw_late=clerk.shift_end_s,
                unit_distance_cost=weights.distance_coefficient(clerk),
                unit_duration_cost=weights.working_coefficient(clerk),
                **extra,
            )

        if params.time_limit_s is not None:
            stop: Any = MaxRuntime(params.time_limit_s)
            if params.branch_limit is not None:
                stop = MultipleCriteria(
                    [stop, MaxIterations(params.branch_limit // ITERATIONS_PER_BRANCHES)]
                )
        else:
            assert params.branch_limit is not None  # refused in solve() otherwise
            stop = MaxIterations(max(1, params.branch_limit // ITERATIONS_PER_BRANCHES))
        result = model.solve(stop=stop, seed=self.seed, display=False)

        free = {t: list(type_clerks[tk]) for t, tk in enumerate(type_order)}
        times: list[RouteTimes] = []
        for route in result.best.routes():
            k = free[route.vehicle_type()].pop(0)
            visits: list[int] = []
            starts: list[int] = []
            for activity in route.schedule():
                if activity.is_client():
                    # Client idx counts clients only; clients were added in routable order.
                    visits.append(routable[activity.idx])
                    starts.append(int(activity.start_time))
            times.append(
                RouteTimes(
                    clerk=k,
                    visits=tuple(visits),
                    start_s=int(route.start_time()),
                    service_starts=tuple(starts),
                    end_s=int(route.end_time()),
                    lunch_start_s=None,
                )
            )
        return finish_plan(problem, times, presolved, weights, self.name)


def _solve_by(seed: int, problem: Problem, params: SolveParams) -> RoutePlan:
    """A worker process's search with its own seed."""
    return PyVrpSolver(seed)._solve(problem, params)
