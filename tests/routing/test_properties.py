from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import _ortools
from routing._ortools import OrToolsSolver
from routing.check import check_plan, check_route
from routing.geo import LatLon
from routing.model import Break, Clerk, Problem, Reason, TimeWindow, Visit, build_problem
from routing.solver import SolveParams, make_route, presolve
from routing.travel import TravelMatrix

H = 3600
SKILLS = ("社保", "残疾评定", "户籍拍照采集")
WINDOWS = (
    (TimeWindow(8 * H + 1800, 12 * H),),
    (TimeWindow(13 * H + 1800, 17 * H),),
    (TimeWindow(8 * H + 1800, 12 * H), TimeWindow(13 * H + 1800, 17 * H)),
    (TimeWindow(9 * H, 9 * H + 900),),
    (TimeWindow(8 * H, 18 * H),),
)
# Bounded by solution count: a greedy descent stops at its first local optimum (a branch
# limit could strike before the first plan is complete, and is reported as no solution).
PARAMS = SolveParams(solution_limit=20, guided_local_search=False, time_limit_s=None)
ALONE = SolveParams(solution_limit=50, guided_local_search=False, time_limit_s=None)


class Plane:
    """0.01 degree = 1 km at 8 m/s; seconds rounded up."""

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        metres = [
            [round(math.hypot(a.lat - b.lat, a.lon - b.lon) * 100_000) for b in points]
            for a in points
        ]
        seconds = tuple(tuple(math.ceil(m / 8) for m in row) for row in metres)
        return TravelMatrix(seconds, tuple(tuple(row) for row in metres))


def place(draw: st.DrawFn) -> LatLon:
    x = draw(st.integers(0, 40))
    y = draw(st.integers(0, 40))
    return LatLon(27.5 + y / 100, 119.0 + x / 100)


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    n_clerks = draw(st.integers(1, 3))
    clerks = []
    for k in range(n_clerks):
        home = place(draw)
        clerks.append(
            Clerk(
                id=f"k{k}",
                start=home,
                end=draw(st.sampled_from([home, place(draw)])),
                shift_start_s=8 * H,
                shift_end_s=draw(st.sampled_from([12 * H, 17 * H + 1800])),
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=3))),
                lunch=draw(st.sampled_from([None, Break(1800, 11 * H + 1800, 12 * H)])),
                max_visits=draw(st.sampled_from([None, 1, 3])),
                max_working_s=draw(st.sampled_from([None, 3 * H])),
            )
        )
    visits = []
    for i in range(draw(st.integers(0, 7))):
        visits.append(
            Visit(
                id=f"v{i}",
                location=place(draw),
                service_s=draw(st.sampled_from([300, 1200, 3600])),
                windows=draw(st.sampled_from(WINDOWS)),
                skill=draw(st.sampled_from([None, *SKILLS])),
                priority=draw(st.integers(0, 2)),
                clerk_id=draw(st.sampled_from([None, f"k{draw(st.integers(0, n_clerks - 1))}"])),
                deferrable=draw(st.booleans()),
            )
        )
    return build_problem(visits, clerks, Plane())


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_every_visit_once_and_the_plan_checks_clean(problem: Problem) -> None:
    """Each visit is routed once or unassigned once with a reason; check_plan finds nothing."""
    plan = OrToolsSolver().solve(problem, PARAMS)
    assert check_plan(problem, plan) == []
    routed = [stop.visit_id for route in plan.routes for stop in route.stops]
    left = [item.visit_id for item in plan.unassigned]
    assert sorted(routed + left) == sorted(visit.id for visit in problem.visits)
    assert all(item.message for item in plan.unassigned)


@SETTINGS
@given(problems())
def test_skills_pins_and_breaks_are_respected(problem: Problem) -> None:
    """Routed visits are with a skilled, pinned-to clerk; breaks lie inside their windows."""
    plan = OrToolsSolver().solve(problem, PARAMS)
    visits = {visit.id: visit for visit in problem.visits}
    clerks = {clerk.id: clerk for clerk in problem.clerks}
    for route in plan.routes:
        clerk = clerks[route.clerk_id]
        for stop in route.stops:
            assert clerk.can_do(visits[stop.visit_id])
        if clerk.lunch is not None:
            assert route.lunch is not None
            assert clerk.lunch.earliest_start_s <= route.lunch.start_s
            assert route.lunch.end_s <= clerk.lunch.latest_end_s
            assert route.lunch.duration_s >= clerk.lunch.duration_s


@SETTINGS
@given(problems())
def test_no_skill_exactly_when_nobody_can_do_it(problem: Problem) -> None:
    """NO_SKILL is reported for exactly the visits no clerk may do by skill and pin."""
    plan = OrToolsSolver().solve(problem, PARAMS)
    no_skill = {item.visit_id for item in plan.unassigned if item.reason is Reason.NO_SKILL}
    expected = {v.id for v in problem.visits if not any(c.can_do(v) for c in problem.clerks)}
    assert no_skill == expected


@SETTINGS
@given(problems())
def test_a_lone_servable_visit_is_served(problem: Problem) -> None:
    """A visit the search dropped (OVER_CAPACITY, DEFERRED) is served when planned alone."""
    plan = OrToolsSolver().solve(problem, PARAMS)
    for item in plan.unassigned:
        if item.reason in (Reason.OVER_CAPACITY, Reason.DEFERRED):
            visit = next(v for v in problem.visits if v.id == item.visit_id)
            alone = build_problem([visit], problem.clerks, Plane())
            assert OrToolsSolver().solve(alone, ALONE).served == 1


# Days shaped like the county's: clerks out 08:30–17:30 with an hour's lunch starting
# 11:30–13:00, visits in the morning or the afternoon (some in a one-hour window, some at
# the last and first minute of a half-day, where the lunch and the road barely fit).
LUNCH_HOUR = Break(3600, 11 * H + 1800, 14 * H)
HALF_DAY_WINDOWS = (
    (TimeWindow(8 * H + 1800, 11 * H + 1800),),
    (TimeWindow(13 * H + 1800, 17 * H),),
    (TimeWindow(10 * H, 11 * H),),
    (TimeWindow(14 * H, 15 * H),),
    (TimeWindow(11 * H + 1800, 11 * H + 1800),),
    (TimeWindow(13 * H + 1800, 13 * H + 1800),),
)


@st.composite
def lunch_days(draw: st.DrawFn) -> Problem:
    clerks = []
    for k in range(draw(st.integers(1, 3))):
        home = place(draw)
        clerks.append(
            Clerk(
                id=f"k{k}",
                start=home,
                end=draw(st.sampled_from([home, place(draw)])),
                shift_start_s=8 * H + 1800,
                shift_end_s=17 * H + 1800,
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=3))),
                lunch=draw(st.sampled_from([None, LUNCH_HOUR, LUNCH_HOUR])),
                max_visits=draw(st.sampled_from([None, 2, 4])),
            )
        )
    visits = [
        Visit(
            id=f"v{i}",
            location=place(draw),
            # Two hours from 11:30 would end after the lunch's latest start: such a visit
            # is on no fixed side, and its clerks keep the break interval.
            service_s=draw(st.sampled_from([1800, 3600, 3600, 7200])),
            windows=draw(st.sampled_from(HALF_DAY_WINDOWS)),
            skill=draw(st.sampled_from([None, *SKILLS])),
            priority=draw(st.integers(0, 2)),
        )
        for i in range(draw(st.integers(1, 7)))
    ]
    return build_problem(visits, clerks, Plane())


@SETTINGS
@given(lunch_days())
def test_the_engines_own_times_with_lunch_on_the_crossing_arc_check_clean(
    problem: Problem,
) -> None:
    """Every clerk with a lunch and visits of at most an hour gets it on the arc that
    crosses it, and the times the engine itself reads back (before any re-timing), lunch
    included, check clean."""
    presolved = presolve(problem)
    routable = [i for i, allowed in enumerate(presolved.eligible) if allowed]
    splits = _ortools._lunch_splits(problem, routable, presolved)
    short = {
        k
        for k, clerk in enumerate(problem.clerks)
        if clerk.lunch is not None
        and all(problem.visits[i].service_s <= H for i in routable if k in presolved.eligible[i])
    }
    assert short <= set(splits)
    job = _ortools._Job(problem, presolved, PARAMS, "LOCAL_CHEAPEST_INSERTION", None)
    for times in _ortools._search(job):
        if times.visits:
            assert check_route(problem, make_route(problem, times)) == []


def _served_in_pairs(problem: Problem, split: bool) -> list[int]:
    before = _ortools.SPLIT_LUNCH
    _ortools.SPLIT_LUNCH = split
    try:
        return [
            OrToolsSolver().solve(build_problem(pair, [c], Plane()), ALONE).served
            for a, v in enumerate(problem.visits)
            for pair in ([v], *([v, w] for w in problem.visits[a + 1 :]))
            for c in problem.clerks
        ]
    finally:
        _ortools.SPLIT_LUNCH = before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lunch_days())
def test_lunch_on_the_crossing_arc_serves_what_a_break_interval_serves(
    problem: Problem,
) -> None:
    """Each visit, and each pair of visits, with each clerk alone: as many served with the
    lunch on the arc as with OR-Tools' break interval (the arc model loses no route)."""
    assert _served_in_pairs(problem, split=True) == _served_in_pairs(problem, split=False)
