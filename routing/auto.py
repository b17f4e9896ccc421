"""Engine choice: the engines that can express the problem, raced, the best plan kept.

Measured (docs/benchmarks.md, Routing): on plain time-window problems PyVRP is far ahead
of every other engine, so it plans them alone. Home-visit days (breaks, skills, pins, a
previous plan to stay close to) go to OR-Tools in this process and, when pyvroom is
installed and the day has no working-time bound, to VROOM at the same time in a warm
worker process (:mod:`routing._portfolio`); both get the same search time, started when
both are ready. The plan with the lower objective is kept (:class:`~routing.model.
ObjectiveWeights`: priority, then visits served, then cost). An engine that fails is
logged and the other's plan is used. Every plan is checked by ``check_plan``.
PyVRP and pyvroom are runtime dependencies of the project; where an install lacks them,
OR-Tools plans alone.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace

from routing import _portfolio
from routing._ortools import OrToolsSolver
from routing.model import Problem, RoutePlan
from routing.solver import SolveParams, Solver


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def candidates(problem: Problem, params: SolveParams | None = None) -> list[Solver]:
    """The engines :class:`AutoSolver` runs for this problem, the in-process one first."""
    replanning = params is not None and params.previous is not None
    if _installed("pyvrp") and not replanning:
        from routing._pyvrp import PyVrpSolver, expressible

        if expressible(problem):
            return [PyVrpSolver()]
    engines: list[Solver] = [OrToolsSolver()]
    if _installed("vroom") and all(c.max_working_s is None for c in problem.clerks):
        from routing._vroom import VroomSolver

        # Two threads, as VROOM alone would run: its plans depend on the thread count, and
        # the race must not be worse than VROOM alone at the same wall time.
        engines.append(VroomSolver(threads=2))
    return engines


def choose(problem: Problem) -> Solver:
    """The first (in-process) engine for this problem."""
    return candidates(problem)[0]


def _solve(engine: Solver, problem: Problem, params: SolveParams) -> RoutePlan:
    return engine.solve(problem, params)


class AutoSolver:
    """Races :func:`candidates` (one process each, at most two) and keeps the best plan."""

    name = "auto"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        engines = candidates(problem, params)
        if len(engines) == 1:
            return engines[0].solve(problem, params)
        # One core each: OR-Tools here with a single search, the other engine in a worker.
        alone = replace(params, workers=1)
        results = _portfolio.race(
            lambda: engines[0].solve(problem, alone),
            [(_solve, (engine, problem, alone)) for engine in engines[1:]],
        )
        plans = _portfolio.succeeded(results)
        return min(plans, key=lambda plan: plan.objective)
