"""The exact timing of a clerk's sequence, and the pre-solve built on it.

The brute force here knows nothing of ``routing.timing``: it tries every departure,
service start, return and lunch start on the problem's 15-minute grid, builds the route
with ``make_route`` and asks ``check_plan``. All times and travel of these problems are
multiples of 15 minutes, so if any schedule exists one exists on the grid.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.check import check_plan
from routing.geo import LatLon
from routing.model import Break, Clerk, Problem, Reason, RoutePlan, TimeWindow, Visit
from routing.solver import RouteTimes, make_route, presolve
from routing.timing import time_route
from routing.travel import TravelMatrix

H = 3600
G = 900
HERE = LatLon(27.6, 119.0)


def grid_problem(
    there: int,
    back: int,
    service: int,
    windows: tuple[TimeWindow, ...],
    shift_end: int,
    lunch: Break | None,
    max_working: int | None,
) -> Problem:
    """One clerk (points 0 start, 1 end) and one visit (point 2), travel given in seconds."""
    seconds = ((0, 0, there), (0, 0, 0), (back, back, 0))
    metres = tuple(tuple(10 * s for s in row) for row in seconds)
    clerk = Clerk("k", HERE, HERE, 8 * H, shift_end, lunch=lunch, max_working_s=max_working)
    visit = Visit("v", HERE, service, windows)
    return Problem((visit,), (clerk,), TravelMatrix(seconds, metres))


def servable_by_brute_force(problem: Problem) -> bool:
    """Some grid schedule of the clerk serving the visit alone passes check_plan."""
    clerk = problem.clerks[0]
    grid = range(clerk.shift_start_s, clerk.shift_end_s + 1, G)
    lunches: list[int | None] = [None]
    if clerk.lunch is not None:
        lunches = list(range(clerk.lunch.earliest_start_s, clerk.lunch.latest_start_s + 1, G))
    for start in grid:
        for service in (t for t in grid if t >= start):
            for end in (t for t in grid if t >= service):
                for lunch in lunches:
                    times = RouteTimes(0, (0,), start, (service,), end, lunch)
                    route = make_route(problem, times)
                    if not check_plan(problem, RoutePlan((route,), (), 0)):
                        return True
    return False


@st.composite
def grid_problems(draw: st.DrawFn) -> Problem:
    def steps(lo: int, hi: int) -> int:
        return G * draw(st.integers(lo, hi))

    first = steps(32, 44)  # 08:00..11:00
    windows = [TimeWindow(first, first + steps(0, 4))]
    if draw(st.booleans()):
        second = windows[0].end_s + steps(1, 6)
        windows.append(TimeWindow(second, second + steps(0, 2)))
    shift_end = steps(50, 56)  # 12:30..14:00
    lunch = draw(st.sampled_from([None, Break(1800, 11 * H, 12 * H + 1800)]))
    return grid_problem(
        there=steps(0, 8),
        back=steps(0, 8),
        service=steps(1, 3),
        windows=tuple(windows),
        shift_end=shift_end,
        lunch=lunch if lunch is not None and lunch.latest_end_s <= shift_end else None,
        max_working=draw(st.sampled_from([None, 2 * H, 3 * H, 4 * H])),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_problems())
def test_presolve_is_exact_against_brute_force(problem: Problem) -> None:
    """The pre-solve keeps a clerk for a visit exactly when some schedule of that clerk
    serving it alone passes check_plan (tried by brute force on the time grid)."""
    eligible = presolve(problem).eligible[0] == (0,)
    assert eligible == servable_by_brute_force(problem)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_problems())
def test_a_feasible_timing_is_a_clean_route(problem: Problem) -> None:
    """Whenever time_route calls a sequence feasible, its schedule passes check_plan."""
    timing = time_route(problem, 0, (0,))
    if timing.feasible:
        route = make_route(problem, timing.times)
        assert check_plan(problem, RoutePlan((route,), (), 0)) == []


def test_drive_first_then_lunch_at_the_visit() -> None:
    """A visit 2 h away at 12:00 sharp is servable: drive, lunch at the visit, serve, return.

    Lunch before the drive (11:30-12:00, arrive 14:00) misses the window, and lunch after
    the visit cannot begin by 12:00; only driving first and pausing there fits.
    """
    problem = grid_problem(
        there=2 * H,
        back=2 * H,
        service=600,
        windows=(TimeWindow(12 * H, 12 * H),),
        shift_end=14 * H + 1800,
        lunch=Break(1800, 11 * H + 1800, 12 * H + 1800),
        max_working=None,
    )
    assert presolve(problem).eligible == ((0,),)
    assert presolve(problem).unassigned == ()
    timing = time_route(problem, 0, (0,))
    assert timing.times.lunch_start_s == 11 * H + 1800
    assert timing.times.service_starts == (12 * H,)


def test_unreachable_reports_how_late() -> None:
    """An infeasible sequence is timed anyway, with the bound it breaks and by how much."""
    problem = grid_problem(
        there=2 * H,
        back=2 * H,
        service=600,
        windows=(TimeWindow(9 * H, 9 * H + 1800),),
        shift_end=13 * H,
        lunch=None,
        max_working=None,
    )
    (item,) = presolve(problem).unassigned
    assert item.reason is Reason.UNREACHABLE_IN_WINDOW
    timing = time_route(problem, 0, (0,))
    assert [(e.code, e.seconds, e.visit_id) for e in timing.excess] == [("window", 1800, "v")]


def test_working_time_bound_is_met_by_leaving_late() -> None:
    """With a working-time bound the clerk leaves late instead of waiting at the visit."""
    problem = grid_problem(
        there=H,
        back=H,
        service=1800,
        windows=(TimeWindow(12 * H, 12 * H),),
        shift_end=14 * H,
        lunch=None,
        max_working=2 * H + 1800,
    )
    timing = time_route(problem, 0, (0,))
    assert timing.feasible
    assert (timing.times.start_s, timing.times.end_s) == (11 * H, 13 * H + 1800)
