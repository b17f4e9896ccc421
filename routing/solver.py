"""The solver seam: parameters, pre-solve reasons, plan assembly and the final check.

Engines (``routing._ortools`` and others) implement :class:`Solver`. They all share the
pre-solve here, which decides from the problem alone which visits cannot be served and why,
and :func:`finish_plan`, which turns an engine's sequences and times into a checked
:class:`~routing.model.RoutePlan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from routing.check import Violation, check_plan
from routing.model import (
    BreakTaken,
    Clerk,
    ObjectiveWeights,
    Problem,
    Reason,
    Route,
    RoutePlan,
    Stop,
    Unassigned,
    Visit,
)

FIRST_SOLUTIONS = (
    "PARALLEL_CHEAPEST_INSERTION",
    "LOCAL_CHEAPEST_INSERTION",
    "SAVINGS",
    "LOCAL_CHEAPEST_COST_INSERTION",
    "SEQUENTIAL_CHEAPEST_INSERTION",
    "CHRISTOFIDES",
    "PATH_CHEAPEST_ARC",
)


_TOO_BIG = "可上门的办事员接待量或携带量不足以安排此次上门"
_OUTSIDE_SHIFTS = "预约时段与所有可上门办事员的班次都不重叠"
_DEFERRED = "当天办事员已排满，此次上门顺延至其他日期办理"


class PlanError(RuntimeError):
    """An engine produced a plan that :func:`routing.check.check_plan` rejects."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        lines = "; ".join(v.message for v in self.violations[:5])
        super().__init__(f"plan fails its check ({len(self.violations)} violations): {lines}")


@dataclass(frozen=True, slots=True)
class SolveParams:
    """How hard and how to search.

    Stop the search after ``time_limit_s`` seconds (production, benchmarks), or after
    ``branch_limit`` search branches or ``solution_limit`` solutions (deterministic: tests),
    whichever comes first. A solution limit alone does not bound guided local search (it
    may find no further solution and run forever), so GLS needs a time or branch limit;
    without GLS the search stops at the first local optimum.
    ``workers`` > 1 runs that
    many searches in separate processes, each with the next first-solution strategy of
    ``first_solutions``, and keeps the best plan. ``initial`` warm-starts from a previous plan
    (its routes are kept where still valid).
    """

    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    time_limit_s: float | None = None
    solution_limit: int | None = None
    branch_limit: int | None = 200_000
    workers: int = 1
    first_solutions: tuple[str, ...] = ("LOCAL_CHEAPEST_INSERTION", "SEQUENTIAL_CHEAPEST_INSERTION")
    guided_local_search: bool = True
    gls_lambda: float = 0.1
    initial: RoutePlan | None = None

    def __post_init__(self) -> None:
        if self.guided_local_search and self.time_limit_s is None and self.branch_limit is None:
            raise ValueError("guided local search needs time_limit_s or branch_limit")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.solution_limit is not None and self.solution_limit <= 0:
            raise ValueError(f"solution_limit must be > 0, got {self.solution_limit}")
        if self.branch_limit is not None and self.branch_limit <= 0:
            raise ValueError(f"branch_limit must be > 0, got {self.branch_limit}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not self.first_solutions:
            raise ValueError("at least one first-solution strategy is required")
        for name in self.first_solutions:
            if name not in FIRST_SOLUTIONS:
                raise ValueError(f"unknown first-solution strategy {name}")
        if self.gls_lambda <= 0:
            raise ValueError(f"gls_lambda must be > 0, got {self.gls_lambda}")


class Solver(Protocol):
    """Anything that plans a day: problem and parameters in, a checked plan out."""

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan: ...


@dataclass(frozen=True, slots=True)
class Presolved:
    """Per visit, the clerks who could serve it alone; and the visits nobody can serve."""

    eligible: tuple[tuple[int, ...], ...]
    unassigned: tuple[Unassigned, ...]


def presolve(problem: Problem) -> Presolved:
    """Decide from the problem alone which visits cannot be served, and why."""
    eligible: list[tuple[int, ...]] = []
    unassigned: list[Unassigned] = []
    for i, visit in enumerate(problem.visits):
        by_skill = [k for k, clerk in enumerate(problem.clerks) if clerk.can_do(visit)]
        if not by_skill:
            unassigned.append(_no_skill(problem, visit))
            eligible.append(())
            continue
        by_size = [k for k in by_skill if _has_room(problem.clerks[k], visit)]
        if not by_size:
            unassigned.append(
                Unassigned(
                    visit.id, Reason.OVER_CAPACITY, "可上门的办事员接待量或携带量不足以安排此次上门"
                )
            )
            eligible.append(())
            continue
        by_shift = [k for k in by_size if _overlaps_shift(problem.clerks[k], visit)]
        if not by_shift:
            unassigned.append(
                Unassigned(
                    visit.id, Reason.OUTSIDE_SHIFTS, "预约时段与所有可上门办事员的班次都不重叠"
                )
            )
            eligible.append(())
            continue
        reachable = tuple(k for k in by_shift if _reachable(problem, k, i))
        if not reachable:
            unassigned.append(
                Unassigned(
                    visit.id,
                    Reason.UNREACHABLE_IN_WINDOW,
                    "没有办事员能在预约时段内赶到，并在班次结束前返回（已计入路程、办理时间和午休）",
                )
            )
        eligible.append(reachable)
    return Presolved(tuple(eligible), tuple(unassigned))


def _no_skill(problem: Problem, visit: Visit) -> Unassigned:
    if visit.clerk_id is not None:
        message = f"指定的办事员「{visit.clerk_id}」不具备「{visit.skill}」技能"
    else:
        message = f"没有具备「{visit.skill}」技能的办事员"
    return Unassigned(visit.id, Reason.NO_SKILL, message)


def _has_room(clerk: Clerk, visit: Visit) -> bool:
    if clerk.max_visits is not None and clerk.max_visits < 1:
        return False
    return clerk.capacity is None or visit.demand <= clerk.capacity


def _overlaps_shift(clerk: Clerk, visit: Visit) -> bool:
    return any(
        max(w.start_s, clerk.shift_start_s) <= min(w.end_s, clerk.shift_end_s)
        for w in visit.windows
    )


def _reachable(problem: Problem, k: int, i: int) -> bool:
    """Clerk ``k`` can do visit ``i`` alone: there and back inside the shift, break included."""
    clerk = problem.clerks[k]
    visit = problem.visits[i]
    there = problem.matrix.seconds[problem.start_point(k)][problem.visit_point(i)]
    back = problem.matrix.seconds[problem.visit_point(i)][problem.end_point(k)]
    if clerk.max_working_s is not None and there + visit.service_s + back > clerk.max_working_s:
        return False
    lunch = clerk.lunch
    if lunch is None:
        start = visit.earliest_start(clerk.shift_start_s + there)
        return start is not None and start + visit.service_s + back <= clerk.shift_end_s
    # Break before the visit (before leaving or on the way there) ...
    start = visit.earliest_start(lunch.earliest_start_s + lunch.duration_s + there)
    if start is not None and start + visit.service_s + back <= clerk.shift_end_s:
        return True
    # ... or after it (on the way back, or after arriving back).
    start = visit.earliest_start(clerk.shift_start_s + there)
    return (
        start is not None
        and start + visit.service_s <= lunch.latest_start_s
        and start + visit.service_s + back + lunch.duration_s <= clerk.shift_end_s
    )


@dataclass(frozen=True, slots=True)
class RouteTimes:
    """What an engine decided for one clerk: visit order, service starts, break start."""

    clerk: int
    visits: tuple[int, ...]
    start_s: int
    service_starts: tuple[int, ...]
    end_s: int
    lunch_start_s: int | None


def make_route(problem: Problem, times: RouteTimes) -> Route:
    """A route with arrivals, waiting and travel derived from the matrix and the times."""
    clerk = problem.clerks[times.clerk]
    seconds = problem.matrix.seconds
    metres = problem.matrix.metres
    lunch: BreakTaken | None = None
    if clerk.lunch is not None and times.lunch_start_s is not None:
        finished = sum(
            1
            for i, start in zip(times.visits, times.service_starts, strict=True)
            if start + problem.visits[i].service_s <= times.lunch_start_s
        )
        lunch = BreakTaken(times.lunch_start_s, clerk.lunch.duration_s, finished)

    def pause_on_leg(leg: int, departure: int, end: int) -> int:
        if lunch is None or lunch.after_stops != leg:
            return 0
        if lunch.start_s >= departure and lunch.end_s <= end:
            return lunch.duration_s
        return 0

    stops: list[Stop] = []
    point = problem.start_point(times.clerk)
    departure = times.start_s
    for leg, (i, start) in enumerate(zip(times.visits, times.service_starts, strict=True)):
        nxt = problem.visit_point(i)
        travel = seconds[point][nxt]
        pause = pause_on_leg(leg, departure, start)
        arrival = departure + travel
        if pause and lunch is not None and lunch.start_s < arrival:
            arrival += pause
        stops.append(
            Stop(
                visit_id=problem.visits[i].id,
                arrival_s=arrival,
                start_s=start,
                departure_s=start + problem.visits[i].service_s,
                travel_s=travel,
                travel_m=metres[point][nxt],
                waiting_s=start - departure - travel - pause,
            )
        )
        point = nxt
        departure = start + problem.visits[i].service_s
    end_point = problem.end_point(times.clerk)
    travel = seconds[point][end_point]
    pause = pause_on_leg(len(stops), departure, times.end_s)
    return Route(
        clerk_id=clerk.id,
        start_s=times.start_s,
        stops=tuple(stops),
        end_s=times.end_s,
        end_travel_s=travel,
        end_travel_m=metres[point][end_point],
        end_waiting_s=times.end_s - departure - travel - pause,
        lunch=lunch,
    )


def plan_objective(
    problem: Problem,
    routes: Sequence[Route],
    unassigned: Sequence[Unassigned],
    weights: ObjectiveWeights,
) -> int:
    """The objective of :class:`~routing.model.ObjectiveWeights`, evaluated on a plan."""
    by_id = {visit.id: visit for visit in problem.visits}
    clerks = {clerk.id: clerk for clerk in problem.clerks}
    total = sum(weights.penalty(by_id[item.visit_id]) for item in unassigned)
    for route in routes:
        clerk = clerks[route.clerk_id]
        total += route.working_s * weights.working_coefficient(clerk)
        total += route.travel_m * weights.distance_coefficient(clerk)
    if routes:
        span = max(r.end_s for r in routes) - min(r.start_s for r in routes)
        total += weights.balance * span
    return total


def finish_plan(
    problem: Problem,
    route_times: Sequence[RouteTimes],
    presolved: Presolved,
    weights: ObjectiveWeights,
    engine: str,
) -> RoutePlan:
    """Assemble, explain the dropped visits, evaluate and check a plan; raise if it is bad."""
    routes = [make_route(problem, times) for times in route_times if times.visits]
    routed = {stop.visit_id for route in routes for stop in route.stops}
    explained = {item.visit_id for item in presolved.unassigned}
    unassigned = list(presolved.unassigned)
    for visit in problem.visits:
        if visit.id in routed or visit.id in explained:
            continue
        if visit.deferrable:
            unassigned.append(
                Unassigned(
                    visit.id, Reason.DEFERRED, "当天办事员已排满，此次上门顺延至其他日期办理"
                )
            )
        else:
            unassigned.append(
                Unassigned(
                    visit.id,
                    Reason.OVER_CAPACITY,
                    "当天办事员的工作时间或接待量已排满，无法再安排此次上门",
                )
            )
    order = problem.clerk_index()
    routes.sort(key=lambda route: order[route.clerk_id])
    visit_order = problem.visit_index()
    unassigned.sort(key=lambda item: visit_order[item.visit_id])
    plan = RoutePlan(
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        objective=plan_objective(problem, routes, unassigned, weights),
        engine=engine,
    )
    violations = check_plan(problem, plan)
    if violations:
        raise PlanError(violations)
    return plan


def initial_routes(problem: Problem, plan: RoutePlan, presolved: Presolved) -> list[list[int]]:
    """A previous plan's visit orders per clerk, keeping only visits still valid for that clerk."""
    visit_index = problem.visit_index()
    by_clerk = {route.clerk_id: route for route in plan.routes}
    taken: set[int] = set()
    out: list[list[int]] = []
    for k, clerk in enumerate(problem.clerks):
        route = by_clerk.get(clerk.id)
        sequence: list[int] = []
        if route is not None:
            for stop in route.stops:
                i = visit_index.get(stop.visit_id)
                if i is not None and k in presolved.eligible[i] and i not in taken:
                    sequence.append(i)
                    taken.add(i)
        out.append(sequence)
    return out
