"""OneTrip routing: a pure planning library (frozen dataclasses in, frozen dataclasses out).

The public API (docs/routing.md): build a :class:`Problem` (:func:`build_problem`), plan
it with :func:`solve`, verify with :func:`check_plan`, and ask :func:`explain` why each
unassigned visit is left out and what would fit it.
"""

from __future__ import annotations

from dataclasses import replace

from routing.check import Violation, check_plan
from routing.explain import Explanation, Insertion, Relaxation, apply_fix, explain, insert
from routing.geo import LatLon
from routing.model import (
    Break,
    BreakTaken,
    Clerk,
    ObjectiveWeights,
    Problem,
    Reason,
    Route,
    RoutePlan,
    Stop,
    TimeWindow,
    Unassigned,
    Visit,
    build_problem,
    changed_clerk_ids,
    count_changed_clerks,
)
from routing.solver import NoSolutionError, PlanError, SolveParams, Solver

__all__ = [
    "Break",
    "BreakTaken",
    "Clerk",
    "Explanation",
    "Insertion",
    "LatLon",
    "NoSolutionError",
    "ObjectiveWeights",
    "PlanError",
    "Problem",
    "Reason",
    "Relaxation",
    "Route",
    "RoutePlan",
    "SolveParams",
    "Solver",
    "Stop",
    "TimeWindow",
    "Unassigned",
    "Violation",
    "Visit",
    "apply_fix",
    "build_problem",
    "changed_clerk_ids",
    "check_plan",
    "count_changed_clerks",
    "explain",
    "insert",
    "solve",
]


def solve(
    problem: Problem,
    params: SolveParams | None = None,
    *,
    previous: RoutePlan | None = None,
    solver: Solver | None = None,
) -> RoutePlan:
    """Plan ``problem``: a checked plan (``check_plan`` is clean), every visit routed or
    unassigned with a reason.

    ``params`` defaults to ``SolveParams()`` (10 s of search). ``solver`` defaults to
    :class:`routing.auto.AutoSolver` (the engines that can express the day, raced, the best
    plan kept). ``previous`` is an earlier plan of the same day being re-planned: pinned
    visits (``Visit.clerk_id``) stay with their clerk as always; every other visit prefers
    the clerk it had there, at a cost of ``params.weights.changed_clerk`` points for each
    visit that moves (default: the cost of 30 minutes of working time); the search starts
    from the previous routes (cut to what still fits) unless ``params.initial`` is given.
    The returned plan's ``changed_clerk`` counts the visits that changed clerk.
    """
    if params is None:
        params = SolveParams()
    if previous is not None:
        params = replace(params, previous=previous)
    if solver is None:
        from routing.auto import AutoSolver

        solver = AutoSolver()
    return solver.solve(problem, params)
