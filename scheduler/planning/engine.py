"""The one seam between operations and the routing library.

Plans come from ``routing.solve`` (``routing.auto.AutoSolver`` by default, or the engine
named by ``ONETRIP_SOLVER``), are checked with ``routing.check_plan``, and unassigned
visits are explained by ``routing.explain`` (see ``scheduler.planning.service``).
``reroute`` re-times a dispatcher's hand-made order of visits. Nothing else in
``scheduler`` calls the solvers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import routing
from routing.check import Violation, check_plan
from routing.explain import Explanation
from routing.model import Clerk, Problem, Reason, Route, RoutePlan, Visit
from routing.solver import PlanError, RouteTimes, SolveParams, Solver, make_route

__all__ = [
    "DEFAULT_SOLVER",
    "Explanation",
    "PlanError",
    "Violation",
    "check",
    "explain",
    "reroute",
    "solve",
    "solver_named",
]

# routing's AutoSolver (engines raced, the best plan kept); ONETRIP_SOLVER=ortools plans
# with OR-Tools alone in this process.
DEFAULT_SOLVER = "auto"


def solver_named(name: str) -> Solver:
    """``auto`` (the library's choice of engines) or ``ortools`` (one in-process search)."""
    if name == "auto":
        from routing.auto import AutoSolver

        return AutoSolver()
    if name == "ortools":
        from routing._ortools import OrToolsSolver

        return OrToolsSolver()
    raise ValueError(f"unknown solver {name!r} (auto or ortools)")


def solve(
    problem: Problem,
    params: SolveParams,
    *,
    previous: RoutePlan | None = None,
    solver: Solver | None = None,
) -> RoutePlan:
    """A checked plan; ``previous`` is the date's earlier plan being re-planned (the
    search starts from it and visits prefer their previous clerk)."""
    engine = solver or solver_named(os.environ.get("ONETRIP_SOLVER", DEFAULT_SOLVER))
    plan = routing.solve(problem, params, previous=previous, solver=engine)
    violations = check_plan(problem, plan)
    if violations:
        raise PlanError(violations)
    return plan


def check(problem: Problem, plan: RoutePlan) -> list[Violation]:
    return check_plan(problem, plan)


def explain(problem: Problem, plan: RoutePlan) -> dict[str, Explanation]:
    """``routing.explain`` by visit id: each unassigned visit's insertion per clerk and
    the smallest verified fix."""
    return {e.visit_id: e for e in routing.explain(problem, plan)}


# -- routes recomputed from an order of visits ------------------------------------------


@dataclass(frozen=True, slots=True)
class Timed:
    """A route's times computed for an order of visits, and how far it breaks its limits."""

    route: Route
    late_s: int  # Σ how far services begin after their windows close
    overtime_s: int  # how far the return is after the shift's end
    lunch_late_s: int  # how far the break starts after its latest start


def _times(problem: Problem, k: int, order: Sequence[int]) -> Timed:
    """Earliest-start times for clerk ``k`` doing visits ``order`` (indices), the break
    taken at the first gap after its earliest start (or when the next visit would push it
    past its latest start); windows and the shift may be broken (measured, not refused)."""
    clerk = problem.clerks[k]
    sec = problem.matrix.seconds
    lunch = clerk.lunch
    point = problem.start_point(k)
    t = clerk.shift_start_s
    if order:
        first = problem.visits[order[0]]
        travel = sec[point][problem.visit_point(order[0])]
        begin = first.windows[0].start_s - travel
        t = max(t, begin)
    start_s = t
    starts: list[int] = []
    late = 0
    lunch_start: int | None = None
    for i in order:
        visit = problem.visits[i]
        nxt = problem.visit_point(i)
        travel = sec[point][nxt]
        if lunch is not None and lunch_start is None:
            ready = _service_start(visit, t + travel)
            if t >= lunch.earliest_start_s or ready + visit.service_s > lunch.latest_start_s:
                lunch_start = max(t, lunch.earliest_start_s)
                t = lunch_start + lunch.duration_s
        start = _service_start(visit, t + travel)
        late += max(0, start - _last_end(visit))
        starts.append(start)
        t = start + visit.service_s
        point = nxt
    end_travel = sec[point][problem.end_point(k)]
    if lunch is not None and lunch_start is None:
        lunch_start = max(t, lunch.earliest_start_s)
        t = lunch_start + lunch.duration_s
    end = t + end_travel
    route = make_route(
        problem, RouteTimes(k, tuple(order), start_s, tuple(starts), end, lunch_start)
    )
    lunch_late = 0
    if lunch is not None and lunch_start is not None:
        lunch_late = max(0, lunch_start - lunch.latest_start_s)
    return Timed(route, late, max(0, end - clerk.shift_end_s), lunch_late)


def _service_start(visit: Visit, arrival: int) -> int:
    start = visit.earliest_start(arrival)
    return arrival if start is None else start  # past every window: late, measured


def _last_end(visit: Visit) -> int:
    return visit.windows[-1].end_s


def reroute(
    problem: Problem, plan: RoutePlan, orders: dict[str, list[str]]
) -> tuple[RoutePlan, list[Violation]]:
    """The plan with the given clerks' routes replaced by these visit orders (times
    recomputed), and every rule the result breaks (``check_plan``) — nothing is saved."""
    vidx = problem.visit_index()
    cidx = problem.clerk_index()
    moved = {v for order in orders.values() for v in order}
    routes: dict[str, Route] = {r.clerk_id: r for r in plan.routes}
    for clerk_id, order in orders.items():
        k = cidx[clerk_id]
        if order:
            routes[clerk_id] = _times(problem, k, [vidx[v] for v in order]).route
        else:
            routes.pop(clerk_id, None)
    # A visit moved into a route is no longer unassigned; one taken out of every route is.
    kept_ids = {s.visit_id for r in routes.values() for s in r.stops}
    unassigned = [u for u in plan.unassigned if u.visit_id not in moved]
    for r in plan.routes:
        for s in r.stops:
            if s.visit_id not in kept_ids and all(u.visit_id != s.visit_id for u in unassigned):
                unassigned.append(
                    routing.model.Unassigned(s.visit_id, Reason.DEFERRED, "调度员移出路线")
                )
    ordered = sorted(routes.values(), key=lambda r: cidx[r.clerk_id])
    new = RoutePlan(tuple(ordered), tuple(unassigned), plan.objective, plan.engine)
    return new, check_plan(problem, new)


def clerk_of(problem: Problem, clerk_id: str) -> Clerk:
    return problem.clerks[problem.clerk_index()[clerk_id]]
