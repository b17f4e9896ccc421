"""The solver seam: parameters, pre-solve reasons, plan assembly and the final check.

Engines (``routing._ortools`` and others) implement :class:`Solver`. They all share the
pre-solve here, which decides from the problem alone which visits cannot be served and why,
and :func:`finish_plan`, which turns an engine's sequences and times into a checked
:class:`~routing.model.RoutePlan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    count_changed_clerks,
    visit_penalties,
)
from routing.timing import RouteTimes, time_route

__all__ = [
    "FIRST_SOLUTIONS",
    "NoSolutionError",
    "PlanError",
    "Presolved",
    "RouteTimes",
    "SolveParams",
    "Solver",
    "finish_plan",
    "initial_routes",
    "make_route",
    "plan_objective",
    "presolve",
    "previous_clerks",
]

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


class NoSolutionError(RuntimeError):
    """An engine found no plan at all within its limits."""


DEFAULT_TIME_LIMIT_S = 10.0


@dataclass(frozen=True, slots=True)
class SolveParams:
    """How hard and how to search.

    Stop the search after ``time_limit_s`` seconds of search (10 s unless given; engine
    start-up is not counted), or after ``solution_limit`` solutions or ``branch_limit``
    search branches (deterministic: tests), whichever comes first. ``time_limit_s=None``
    needs one of the other two. A solution limit alone does not bound guided local search
    on every problem, so GLS with no time limit needs ``branch_limit``.
    ``workers`` > 1 runs that many searches in separate processes, each with the next
    first-solution strategy of ``first_solutions``, and keeps the best plan. ``initial``
    warm-starts from a plan (its routes are kept where still valid). ``previous`` is the
    plan being re-planned: each visit's clerk there is preferred with the weight
    ``weights.changed_clerk`` (see :func:`routing.solve`).
    """

    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    time_limit_s: float | None = DEFAULT_TIME_LIMIT_S
    solution_limit: int | None = None
    branch_limit: int | None = None
    workers: int = 1
    first_solutions: tuple[str, ...] = ("LOCAL_CHEAPEST_INSERTION", "SEQUENTIAL_CHEAPEST_INSERTION")
    guided_local_search: bool = True
    # Guided local search's lambda coefficient (OR-Tools' default is 0.1). At 0.5 our engine
    # alone on Solomon at 10 s: +2.89 % mean / +9.21 % worst gap, against +3.46 / +11.11
    # at 0.1; on the 庆元 home-visit days no better or worse (docs/benchmarks.md).
    gls_lambda: float = 0.5
    initial: RoutePlan | None = None
    previous: RoutePlan | None = None

    def __post_init__(self) -> None:
        unbounded = self.guided_local_search or self.solution_limit is None
        if self.time_limit_s is None and self.branch_limit is None and unbounded:
            raise ValueError(
                "without time_limit_s, guided local search needs branch_limit "
                "(and a search without it needs solution_limit or branch_limit)"
            )
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
            unassigned.append(Unassigned(visit.id, Reason.OVER_CAPACITY, _TOO_BIG))
            eligible.append(())
            continue
        by_shift = [k for k in by_size if _overlaps_shift(problem.clerks[k], visit)]
        if not by_shift:
            unassigned.append(Unassigned(visit.id, Reason.OUTSIDE_SHIFTS, _OUTSIDE_SHIFTS))
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
    """Clerk ``k`` can do visit ``i`` alone: exact (:func:`routing.timing.time_route`)."""
    return time_route(problem, k, (i,)).feasible


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


def previous_clerks(problem: Problem, previous: RoutePlan | None) -> dict[str, str]:
    """Visit id -> its clerk in ``previous``, for visits of ``problem`` routed there by a
    clerk who is still in the problem."""
    if previous is None:
        return {}
    visits = problem.visit_index()
    clerks = problem.clerk_index()
    return {
        visit_id: clerk_id
        for visit_id, clerk_id in previous.clerk_of().items()
        if visit_id in visits and clerk_id in clerks
    }


def plan_objective(
    problem: Problem,
    routes: Sequence[Route],
    unassigned: Sequence[Unassigned],
    weights: ObjectiveWeights,
    previous: Mapping[str, str] | None = None,
) -> int:
    """The objective of :class:`~routing.model.ObjectiveWeights`, evaluated on a plan.

    ``previous`` maps visit ids to their clerk in the plan being re-planned.
    """
    penalties = visit_penalties(problem, weights)
    index = problem.visit_index()
    clerks = {clerk.id: clerk for clerk in problem.clerks}
    total = sum(penalties[index[item.visit_id]] for item in unassigned)
    for route in routes:
        clerk = clerks[route.clerk_id]
        total += route.working_s * weights.working_coefficient(clerk)
        total += route.travel_m * weights.distance_coefficient(clerk)
        if previous:
            total += weights.changed_clerk * sum(
                1 for stop in route.stops if previous.get(stop.visit_id, clerk.id) != clerk.id
            )
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
    previous: RoutePlan | None = None,
) -> RoutePlan:
    """Assemble, explain the dropped visits, evaluate and check a plan; raise if it is bad.

    Each engine's visit order is kept, but its times are replaced by the schedule of that
    order with the least working time (:func:`routing.timing.time_route`, compact) when
    that is shorter: engines schedule differently (VROOM leaves at shift start and waits),
    and plans from different engines must compare on their orders, not their clocks.
    """
    compacted = [_compact(problem, times) for times in route_times if times.visits]
    try:
        return _assemble(problem, compacted, presolved, weights, engine, previous)
    except PlanError:
        # The engine's own times, should the compact schedule ever fail the check.
        engine_times = [times for times in route_times if times.visits]
        return _assemble(problem, engine_times, presolved, weights, engine, previous)


def _compact(problem: Problem, times: RouteTimes) -> RouteTimes:
    timing = time_route(problem, times.clerk, times.visits, compact=True)
    shorter = timing.times.end_s - timing.times.start_s < times.end_s - times.start_s
    return timing.times if timing.feasible and shorter else times


def _assemble(
    problem: Problem,
    route_times: Sequence[RouteTimes],
    presolved: Presolved,
    weights: ObjectiveWeights,
    engine: str,
    previous: RoutePlan | None,
) -> RoutePlan:
    routes = [make_route(problem, times) for times in route_times]
    routed = {stop.visit_id for route in routes for stop in route.stops}
    explained = {item.visit_id for item in presolved.unassigned}
    unassigned = list(presolved.unassigned)
    for visit in problem.visits:
        if visit.id in routed or visit.id in explained:
            continue
        if visit.deferrable:
            unassigned.append(Unassigned(visit.id, Reason.DEFERRED, _DEFERRED))
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
        objective=plan_objective(
            problem, routes, unassigned, weights, previous_clerks(problem, previous)
        ),
        engine=engine,
    )
    violations = check_plan(problem, plan)
    if violations:
        raise PlanError(violations)
    if previous is not None:
        plan = replace(plan, changed_clerk=count_changed_clerks(previous, plan))
    return plan


def initial_routes(problem: Problem, plan: RoutePlan, presolved: Presolved) -> list[list[int]]:
    """A plan's visit orders per clerk, cut down to what still fits that clerk today.

    Visits gone from the problem or no longer allowed for the clerk are left out; then,
    in the old order, each visit is kept only if the route with it still fits (exactly,
    by :func:`routing.timing.time_route`), the visit count and the capacity.
    """
    visit_index = problem.visit_index()
    by_clerk = {route.clerk_id: route for route in plan.routes}
    taken: set[int] = set()
    out: list[list[int]] = []
    for k, clerk in enumerate(problem.clerks):
        route = by_clerk.get(clerk.id)
        sequence: list[int] = []
        load = 0
        if route is not None:
            for stop in route.stops:
                i = visit_index.get(stop.visit_id)
                if i is None or k not in presolved.eligible[i] or i in taken:
                    continue
                if clerk.max_visits is not None and len(sequence) >= clerk.max_visits:
                    break
                demand = problem.visits[i].demand
                if clerk.capacity is not None and load + demand > clerk.capacity:
                    continue
                if time_route(problem, k, (*sequence, i)).feasible:
                    sequence.append(i)
                    taken.add(i)
                    load += demand
        out.append(sequence)
    return out
