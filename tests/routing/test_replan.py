from __future__ import annotations

from dataclasses import replace

import pytest

from routing import SolveParams, count_changed_clerks, solve
from routing._ortools import OrToolsSolver
from routing._vroom import VroomSolver
from routing.check import check_plan
from routing.model import ObjectiveWeights, Problem, RoutePlan, TimeWindow

H = 3600
# Greedy descent to a local optimum: deterministic and quick on these tiny days.
FEW = SolveParams(solution_limit=40, branch_limit=40_000, guided_local_search=False)


def twin_clerk_day(make_problem, visit, clerk) -> Problem:  # type: ignore[no-untyped-def]
    """Two identical clerks at the same base, two visits each at most, four visits: the
    two routes can be swapped at no cost, so only the previous plan decides who does which."""
    visits = [visit(f"v{i}", 1 + i % 2, north_km=2 * (i // 2) - 1) for i in range(4)]
    return make_problem(visits, [clerk("k1", max_visits=2), clerk("k2", max_visits=2)])


def swapped(plan: RoutePlan) -> RoutePlan:
    """The same routes with the two clerks exchanged (as a dispatcher might have done)."""
    names = {"k1": "k2", "k2": "k1"}
    routes = tuple(
        sorted(
            (replace(r, clerk_id=names[r.clerk_id]) for r in plan.routes),
            key=lambda r: r.clerk_id,
        )
    )
    return replace(plan, routes=routes)


@pytest.mark.parametrize(
    "engine", [OrToolsSolver(), VroomSolver(threads=1)], ids=["ortools", "vroom"]
)
def test_replan_keeps_each_visit_with_its_previous_clerk(
    engine, make_problem, visit, clerk
) -> None:
    """Re-planned against a previous plan, every visit stays with the clerk it had there."""
    problem = twin_clerk_day(make_problem, visit, clerk)
    first = solve(problem, FEW, solver=engine)
    assert len(first.routes) == 2
    previous = swapped(first)
    assert check_plan(problem, previous) == []
    again = solve(problem, FEW, previous=previous, solver=engine)
    assert check_plan(problem, again) == []
    assert again.changed_clerk == 0 == count_changed_clerks(previous, again)
    assert again.clerk_of() == previous.clerk_of()


def test_without_a_weight_for_changes_the_clerks_are_free(make_problem, visit, clerk) -> None:
    """The preference is the documented weight: set to 0, it no longer counts in the objective."""
    problem = twin_clerk_day(make_problem, visit, clerk)
    first = solve(problem, FEW, solver=OrToolsSolver())
    previous = swapped(first)
    weights = ObjectiveWeights(changed_clerk=0)
    free = solve(problem, replace(FEW, weights=weights), previous=previous, solver=OrToolsSolver())
    kept = solve(problem, FEW, previous=previous, solver=OrToolsSolver())
    # Each visit that moves adds changed_clerk to the objective of a re-plan.
    moved = count_changed_clerks(previous, first)
    assert moved == 4
    assert free.objective <= first.objective
    assert kept.objective <= first.objective + moved * ObjectiveWeights().changed_clerk


@pytest.mark.parametrize(
    "engine", [OrToolsSolver(), VroomSolver(threads=1)], ids=["ortools", "vroom"]
)
def test_a_visit_stays_with_its_previous_clerk_for_less_than_the_weight(
    engine, make_problem, visit, clerk, east
) -> None:
    """k2's base is half a kilometre farther from the visit than k1's: the re-plan keeps the
    visit with k2, who had it, because the detour costs less than the weight; with the
    weight at 0 the same re-plan gives it to k1. (Twin clerks cannot show this: a warm
    start from the previous plan keeps it at no cost.)"""
    problem = make_problem(
        [visit("v", 1)], [clerk("k1"), clerk("k2", start=east(2.5), end=east(2.5))]
    )
    first = solve(problem, FEW, solver=engine)
    assert first.clerk_of() == {"v": "k1"}
    previous = replace(first, routes=tuple(replace(r, clerk_id="k2") for r in first.routes))
    kept = solve(problem, FEW, previous=previous, solver=engine)
    assert kept.clerk_of() == {"v": "k2"} and kept.changed_clerk == 0
    free = replace(FEW, weights=ObjectiveWeights(changed_clerk=0))
    moved = solve(problem, free, previous=previous, solver=engine)
    assert moved.clerk_of() == {"v": "k1"}
    assert check_plan(problem, kept) == [] == check_plan(problem, moved)


def test_a_change_worth_more_than_the_weight_is_made(make_problem, visit, clerk, east) -> None:
    """Staying with the previous clerk is given up when it costs more than the weight."""
    near = visit("v", 1)
    problem = make_problem([near], [clerk("k1"), clerk("k2", start=east(30), end=east(30))])
    first = solve(problem, FEW, solver=OrToolsSolver())
    assert first.clerk_of() == {"v": "k1"}
    previous = replace(first, routes=tuple(replace(r, clerk_id="k2") for r in first.routes))
    again = solve(problem, FEW, previous=previous, solver=OrToolsSolver())
    # k2 would drive 2 x 29 km more (1.6 h of working time): more than 30 minutes' worth.
    assert again.clerk_of() == {"v": "k1"}
    assert again.changed_clerk == 1


def test_pins_hold_in_a_replan(make_problem, visit, clerk) -> None:
    """A pinned visit stays with its clerk even when the previous plan had it elsewhere."""
    visits = [visit("p", 1, clerk_id="k2"), visit("q", 2)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    first = solve(problem, FEW, solver=OrToolsSolver())
    previous = swapped(first)
    again = solve(problem, FEW, previous=previous)
    assert again.clerk_of()["p"] == "k2"
    assert check_plan(problem, again) == []


def test_auto_solver_replans_with_engines_that_express_it(ok_small) -> None:
    """On a plain day AutoSolver uses PyVRP, but a re-plan goes to OR-Tools and VROOM."""
    from routing.auto import candidates

    assert [type(e).__name__ for e in candidates(ok_small)] == ["PyVrpSolver"]
    first = solve(ok_small, FEW)
    replan = replace(FEW, previous=first)
    assert [type(e).__name__ for e in candidates(ok_small, replan)] == [
        "OrToolsSolver",
        "VroomSolver",
    ]
    again = solve(ok_small, FEW, previous=first)
    assert again.changed_clerk == 0 and again.served == 3


def test_replan_after_a_visit_is_cancelled_and_a_window_moves(make_problem, visit, clerk) -> None:
    """A previous plan that no longer fits (a visit gone, another's window moved) is
    re-planned into a clean plan without error."""
    visits = [visit(f"v{i}", 1 + i, north_km=i % 2) for i in range(5)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    first = solve(problem, FEW, solver=OrToolsSolver())
    moved = [
        replace(v, windows=(TimeWindow(16 * H, 16 * H + 600),)) if v.id == "v2" else v
        for v in visits
        if v.id != "v0"
    ]
    changed = make_problem(moved, [clerk("k1"), clerk("k2")])
    again = solve(changed, FEW, previous=first)
    assert check_plan(changed, again) == []
    assert again.served == 4
