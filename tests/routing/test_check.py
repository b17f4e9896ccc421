from __future__ import annotations

from dataclasses import replace

import pytest

from routing.check import check_plan
from routing.model import (
    BreakTaken,
    Problem,
    Reason,
    Route,
    RoutePlan,
    Stop,
    TimeWindow,
    Unassigned,
)

H = 3600


def codes(problem: Problem, plan: RoutePlan) -> set[str]:
    return {violation.code for violation in check_plan(problem, plan)}


@pytest.fixture
def good(ok_small) -> RoutePlan:
    """The hand-checked OkSmall plan, written out stop by stop."""
    t = 8 * H
    route = Route(
        clerk_id="k1",
        start_s=t,
        stops=(
            Stop("C", t + 300, t + 300, t + 900, 300, 3000, 0),
            Stop("B", t + 1000, t + 1000, t + 1600, 100, 1000, 0),
            Stop("A", t + 1700, t + 1700, t + 2300, 100, 1000, 0),
        ),
        end_s=t + 2400,
        end_travel_s=100,
        end_travel_m=1000,
        end_waiting_s=0,
    )
    return RoutePlan(routes=(route,), unassigned=(), objective=0)


def with_stops(plan: RoutePlan, *stops: Stop, **route_changes: object) -> RoutePlan:
    route = replace(plan.routes[0], stops=stops, **route_changes)
    return replace(plan, routes=(route,))


def test_hand_written_plan_is_clean(ok_small, good) -> None:
    """The hand-checked OkSmall plan has no violations."""
    assert check_plan(ok_small, good) == []


def test_late_service_start(ok_small, good) -> None:
    """Service that begins before the clerk can arrive is late."""
    c, b, a = good.routes[0].stops
    early_b = replace(b, start_s=b.start_s - 50, departure_s=b.departure_s - 50)
    assert "late" in codes(ok_small, with_stops(good, c, early_b, a))


def test_arrival_that_does_not_match_the_matrix(ok_small, good) -> None:
    """A reported arrival not equal to departure + matrix travel is caught."""
    c, b, a = good.routes[0].stops
    assert "arrival_mismatch" in codes(
        ok_small, with_stops(good, c, replace(b, arrival_s=b.arrival_s - 10), a)
    )


def test_travel_numbers_must_match_the_matrix(ok_small, good) -> None:
    """Travel seconds or metres that differ from the matrix are caught."""
    c, b, a = good.routes[0].stops
    assert "travel_mismatch" in codes(ok_small, with_stops(good, c, replace(b, travel_m=999), a))
    assert "travel_mismatch" in codes(ok_small, with_stops(good, c, b, a, end_travel_s=99))


def test_service_outside_its_window(ok_small, good) -> None:
    """Starting C a minute after its exact window is a window violation."""
    shifted = []
    for stop in good.routes[0].stops:
        shifted.append(
            replace(
                stop,
                arrival_s=stop.arrival_s + 60,
                start_s=stop.start_s + 60,
                departure_s=stop.departure_s + 60,
            )
        )
    plan = with_stops(good, *shifted, start_s=8 * H + 60, end_s=8 * H + 2460)
    assert codes(ok_small, plan) == {"window"}


def test_missing_visit(ok_small, good) -> None:
    """A visit neither routed nor unassigned is missing."""
    c, b, _ = good.routes[0].stops
    plan = with_stops(good, c, b)
    assert "missing_visit" in codes(ok_small, plan)


def test_duplicated_visit(ok_small, good) -> None:
    """A visit both routed and unassigned is duplicated."""
    plan = replace(good, unassigned=(Unassigned("A", Reason.OVER_CAPACITY, "已排满"),))
    assert codes(ok_small, plan) == {"duplicate_visit"}


def test_unknown_visit(ok_small, good) -> None:
    """An unassigned entry for a visit the problem does not have is caught."""
    plan = replace(good, unassigned=(Unassigned("Z", Reason.OVER_CAPACITY, "已排满"),))
    assert codes(ok_small, plan) == {"unknown_visit"}


def test_wrong_skill(ok_small, good) -> None:
    """A visit needing a skill the clerk lacks is a skill violation."""
    visits = tuple(replace(v, skill="残疾评定") if v.id == "B" else v for v in ok_small.visits)
    assert codes(replace(ok_small, visits=visits), good) == {"skill"}


def test_pin_to_another_clerk(ok_small, good) -> None:
    """A pinned visit on someone else's route is a pin violation."""
    clerks = (*ok_small.clerks, replace(ok_small.clerks[0], id="k2"))
    matrix_rows = ok_small.matrix.seconds
    # Rebuild the matrix for two clerks at the same place: duplicate the clerk rows.
    order = [0, 0, 1, 1, 2, 3, 4]
    seconds = tuple(tuple(matrix_rows[i][j] for j in order) for i in order)
    metres = tuple(tuple(ok_small.matrix.metres[i][j] for j in order) for i in order)
    visits = tuple(replace(v, clerk_id="k2") if v.id == "A" else v for v in ok_small.visits)
    problem = Problem(visits, clerks, replace(ok_small.matrix, seconds=seconds, metres=metres))
    assert codes(problem, good) == {"pin"}


def test_limits_max_visits_and_working_time(ok_small, good) -> None:
    """Too many visits and too long a day are both reported."""
    clerk = replace(ok_small.clerks[0], max_visits=2, max_working_s=2000)
    assert codes(replace(ok_small, clerks=(clerk,)), good) == {"max_visits", "max_working"}


def test_shift_end(ok_small, good) -> None:
    """Arriving back after the shift ends is a shift violation."""
    clerk = replace(ok_small.clerks[0], shift_end_s=8 * H + 2000)
    assert codes(replace(ok_small, clerks=(clerk,)), good) == {"shift"}


@pytest.fixture
def with_lunch(ok_small, lunch_break) -> Problem:
    """OkSmall whose clerk must take a 30-minute break starting 11:30–13:30."""
    clerk = replace(ok_small.clerks[0], lunch=lunch_break)
    return replace(ok_small, clerks=(clerk,))


def test_break_missing(with_lunch, good) -> None:
    """A working clerk who must take a break and takes none is caught."""
    assert codes(with_lunch, good) == {"break_missing"}


def test_break_after_the_route_is_clean(with_lunch, good) -> None:
    """A break after arriving back, inside its window, is allowed."""
    plan = with_stops(good, *good.routes[0].stops, lunch=BreakTaken(12 * H, 1800, 3))
    assert check_plan(with_lunch, plan) == []


def test_break_outside_its_window(with_lunch, good) -> None:
    """A break at 10:00 when it must start from 11:30 is a break-window violation."""
    plan = with_stops(good, *good.routes[0].stops, lunch=BreakTaken(10 * H, 1800, 3))
    assert codes(with_lunch, plan) == {"break_window"}


def test_break_too_short(with_lunch, good) -> None:
    """A 20-minute break when 30 are required is caught."""
    plan = with_stops(good, *good.routes[0].stops, lunch=BreakTaken(12 * H, 1200, 3))
    assert codes(with_lunch, plan) == {"break_duration"}


def test_break_overlapping_a_visit(with_lunch, good, ok_small) -> None:
    """A break placed between stops whose gap cannot hold it overlaps the service."""
    plan = with_stops(good, *good.routes[0].stops, lunch=BreakTaken(12 * H, 1800, 1))
    assert "break_overlap" in codes(with_lunch, plan)


def test_break_on_a_leg_must_leave_time_to_drive(ok_small, lunch_break) -> None:
    """A break in a leg too short for break plus driving makes the next stop late."""
    clerk = replace(ok_small.clerks[0], lunch=lunch_break)
    visits = tuple(
        replace(v, windows=(TimeWindow(8 * H, 17 * H),)) if v.id == "C" else v
        for v in ok_small.visits
    )
    problem = replace(ok_small, clerks=(clerk,), visits=visits)
    t = 12 * H
    # C served 11:30-11:40, break 11:40-12:10, B begins 12:10: the 100 s drive does not fit.
    stops = (
        Stop("C", t - 1800, t - 1800, t - 1200, 300, 3000, 0),
        Stop("B", t + 600, t + 600, t + 1200, 100, 1000, 0),
        Stop("A", t + 1300, t + 1300, t + 1900, 100, 1000, 0),
    )
    route = Route("k1", t - 2100, stops, t + 2000, 100, 1000, 0, BreakTaken(t - 1200, 1800, 1))
    plan = RoutePlan((route,), (), 0)
    assert "late" in codes(problem, plan)


def test_empty_route_and_unknown_clerk(ok_small, good) -> None:
    """Routes must serve something and belong to a clerk of the problem."""
    empty = Route("k1", 8 * H, (), 8 * H, 0, 0, 0)
    ghost = replace(good.routes[0], clerk_id="ghost")
    plan = RoutePlan((empty, ghost), (), 0)
    found = codes(ok_small, plan)
    assert {"empty_route", "unknown_clerk", "missing_visit"} <= found
