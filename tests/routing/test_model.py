from __future__ import annotations

import pytest

from routing.geo import LatLon
from routing.model import (
    Break,
    Clerk,
    ObjectiveWeights,
    Problem,
    TimeWindow,
    Visit,
    build_problem,
)
from routing.solver import SolveParams
from routing.travel import TravelMatrix

H = 3600
P = LatLon(27.6, 119.0)


def square(n: int, value: int = 1) -> TravelMatrix:
    rows = tuple(tuple(0 if i == j else value for j in range(n)) for i in range(n))
    return TravelMatrix(rows, rows)


def test_time_window_rejects_end_before_start() -> None:
    """A window whose end precedes its start is refused with both ends named."""
    with pytest.raises(ValueError, match=r"^bad time window 10\.\.5$"):
        TimeWindow(10, 5)


def test_time_window_is_inclusive() -> None:
    """Both ends of a window are allowed service starts."""
    window = TimeWindow(10, 20)
    assert window.contains(10) and window.contains(20)
    assert not window.contains(9) and not window.contains(21)


def test_visit_needs_a_window() -> None:
    """A visit without any time window is refused."""
    with pytest.raises(ValueError, match=r"^visit v: at least one time window is required$"):
        Visit("v", P, 600, ())


def test_visit_windows_must_be_sorted_and_disjoint() -> None:
    """Overlapping or unsorted windows are refused."""
    with pytest.raises(ValueError, match=r"^visit v: time windows must be sorted and disjoint$"):
        Visit("v", P, 600, (TimeWindow(10, 20), TimeWindow(20, 30)))


def test_visit_priority_range() -> None:
    """Priority outside 0..10 is refused."""
    with pytest.raises(ValueError, match=r"^visit v: priority must be in 0\.\.10, got 11$"):
        Visit("v", P, 600, (TimeWindow(0, 1),), priority=11)


def test_visit_negative_service() -> None:
    """A negative service duration is refused."""
    with pytest.raises(ValueError, match=r"^visit v: service_s must be >= 0, got -1$"):
        Visit("v", P, -1, (TimeWindow(0, 1),))


def test_visit_earliest_start_skips_to_the_next_window() -> None:
    """Arriving after the first window closes, service begins when the second opens."""
    visit = Visit("v", P, 60, (TimeWindow(100, 200), TimeWindow(500, 600)))
    assert visit.earliest_start(50) == 100
    assert visit.earliest_start(150) == 150
    assert visit.earliest_start(201) == 500
    assert visit.earliest_start(601) is None


def test_break_must_fit_its_window() -> None:
    """A break longer than its window is refused."""
    with pytest.raises(ValueError, match=r"^break of 1800 s does not fit 100\.\.1000$"):
        Break(1800, 100, 1000)


def test_clerk_break_inside_shift() -> None:
    """A clerk's break window must lie inside the shift."""
    with pytest.raises(ValueError, match=r"^clerk k: the break window must lie inside the shift$"):
        Clerk("k", P, P, 8 * H, 12 * H, lunch=Break(1800, 11 * H, 13 * H))


def test_clerk_bad_shift() -> None:
    """A shift that ends before it starts is refused."""
    with pytest.raises(ValueError, match=r"^clerk k: bad shift 100\.\.50$"):
        Clerk("k", P, P, 100, 50)


def test_clerk_negative_limit() -> None:
    """Negative limits are refused with the field named."""
    with pytest.raises(ValueError, match=r"^clerk k: max_visits must be >= 0, got -1$"):
        Clerk("k", P, P, 0, 100, max_visits=-1)


def test_clerk_can_do_checks_skill_and_pin() -> None:
    """A clerk can do a visit only with its skill and if it is not pinned to someone else."""
    clerk = Clerk("k", P, P, 0, 100, skills=frozenset({"社保"}))
    window = (TimeWindow(0, 100),)
    assert clerk.can_do(Visit("a", P, 1, window, skill="社保"))
    assert not clerk.can_do(Visit("b", P, 1, window, skill="残疾评定"))
    assert not clerk.can_do(Visit("c", P, 1, window, clerk_id="other"))
    assert clerk.can_do(Visit("d", P, 1, window, clerk_id="k"))


def test_problem_matrix_size_must_match_points() -> None:
    """The matrix must cover both places of every clerk and every visit."""
    visit = Visit("v", P, 1, (TimeWindow(0, 100),))
    clerk = Clerk("k", P, P, 0, 100)
    with pytest.raises(ValueError, match=r"^travel matrix has 2 points, expected 3 "):
        Problem((visit,), (clerk,), square(2))


def test_problem_rejects_duplicate_visit_ids() -> None:
    """Two visits with one id are refused."""
    visit = Visit("v", P, 1, (TimeWindow(0, 100),))
    clerk = Clerk("k", P, P, 0, 100)
    with pytest.raises(ValueError, match=r"^visit ids must be unique$"):
        Problem((visit, visit), (clerk,), square(4))


def test_problem_rejects_pin_to_unknown_clerk() -> None:
    """A visit pinned to a clerk who is not in the problem is refused."""
    visit = Visit("v", P, 1, (TimeWindow(0, 100),), clerk_id="ghost")
    clerk = Clerk("k", P, P, 0, 100)
    with pytest.raises(ValueError, match=r"^visit v is pinned to unknown clerk ghost$"):
        Problem((visit,), (clerk,), square(3))


def test_problem_needs_a_clerk() -> None:
    """A problem without clerks is refused."""
    with pytest.raises(ValueError, match=r"^a problem needs at least one clerk$"):
        Problem((), (), square(0))


def test_point_indexing() -> None:
    """Points are clerk starts, then clerk ends, then visits."""
    visits = tuple(Visit(f"v{i}", P, 1, (TimeWindow(0, 100),)) for i in range(3))
    clerks = tuple(Clerk(f"k{i}", P, P, 0, 100) for i in range(2))
    problem = Problem(visits, clerks, square(7))
    assert [problem.start_point(k) for k in range(2)] == [0, 1]
    assert [problem.end_point(k) for k in range(2)] == [2, 3]
    assert [problem.visit_point(i) for i in range(3)] == [4, 5, 6]


def test_build_problem_asks_the_travel_model_in_point_order(plane, east) -> None:
    """build_problem passes starts, ends, then visit locations to the travel model."""
    start, end, where = east(1), east(2), east(3)
    visit = Visit("v", where, 1, (TimeWindow(0, 100),))
    clerk = Clerk("k", start, end, 0, 100)
    problem = build_problem([visit], [clerk], plane)
    assert plane.calls == [[start, end, where]]
    assert problem.matrix.metres[0][1] == 1000


def test_penalty_grows_with_priority_and_for_must_do_visits() -> None:
    """Urgent visits cost more to drop; deferrable ones cost less than must-do ones."""
    weights = ObjectiveWeights()
    window = (TimeWindow(0, 100),)
    normal = Visit("a", P, 1, window)
    urgent = Visit("b", P, 1, window, priority=2)
    deferrable = Visit("c", P, 1, window, deferrable=True)
    assert weights.penalty(deferrable) < weights.penalty(normal) < weights.penalty(urgent)


def test_money_costs_enter_exactly() -> None:
    """A fen per hour is 5 points per second, a fen per km 18 points per metre."""
    weights = ObjectiveWeights(working_s=1, distance_m=2)
    clerk = Clerk("k", P, P, 0, 100, cost_per_hour_fen=3600, cost_per_km_fen=1000)
    assert weights.working_coefficient(clerk) == 1 + 18000
    assert weights.distance_coefficient(clerk) == 2 + 18000


def test_solve_params_need_a_bound() -> None:
    """A solution limit alone may never be reached by GLS: a time or branch limit is required."""
    with pytest.raises(ValueError, match=r"^without time_limit_s, guided local search needs"):
        SolveParams(solution_limit=10, time_limit_s=None)


def test_solve_params_default_to_a_time_limit_and_no_branch_limit() -> None:
    """By default the search is bounded by 10 s of time only: no branch limit cuts it short."""
    params = SolveParams()
    assert (params.time_limit_s, params.branch_limit, params.solution_limit) == (10.0, None, None)


def test_solve_params_reject_unknown_strategy() -> None:
    """First-solution strategies are checked by name."""
    with pytest.raises(ValueError, match=r"^unknown first-solution strategy FASTEST$"):
        SolveParams(first_solutions=("FASTEST",))
