"""Engine choice: the engines that can express the problem, best plan kept.

Measured (docs/benchmarks.md, Routing): on plain time-window problems PyVRP is far ahead
of every other engine, so it plans them alone. Home-visit days (breaks, skills, pins) go
to OR-Tools and, when pyvroom is installed and the day has no working-time bound, to VROOM
at the same time in a second process; the plan with the lower objective (served visits
first, by priority, then working time) is kept. Every plan is checked by ``check_plan``.
PyVRP and pyvroom are runtime dependencies of the project; where an install lacks them,
OR-Tools plans alone.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from routing._ortools import OrToolsSolver
from routing.model import Problem, RoutePlan
from routing.solver import SolveParams, Solver


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def candidates(problem: Problem) -> list[Solver]:
    """The engines :class:`AutoSolver` runs for this problem, the in-process one first."""
    if _installed("pyvrp"):
        from routing._pyvrp import PyVrpSolver, expressible

        if expressible(problem):
            return [PyVrpSolver()]
    engines: list[Solver] = [OrToolsSolver()]
    if _installed("vroom") and all(c.max_working_s is None for c in problem.clerks):
        from routing._vroom import VroomSolver

        engines.append(VroomSolver(threads=1))
    return engines


def choose(problem: Problem) -> Solver:
    """The first (in-process) engine for this problem."""
    return candidates(problem)[0]


def _solve(
    engine: Solver, problem: Problem, params: SolveParams, deadline: float | None
) -> RoutePlan:
    """A worker process: the time left until ``deadline`` (process start-up is not free)."""
    if deadline is not None:
        params = replace(params, time_limit_s=max(0.1, deadline - time.time()))
    return engine.solve(problem, params)


class AutoSolver:
    """Runs :func:`candidates` (one process each, at most two) and keeps the best plan."""

    name = "auto"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        engines = candidates(problem)
        if len(engines) == 1:
            return engines[0].solve(problem, params)
        # One core each: OR-Tools here with a single search, the other engine in a process.
        alone = replace(params, workers=1)
        deadline = None if params.time_limit_s is None else time.time() + params.time_limit_s
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            other = pool.submit(_solve, engines[1], problem, alone, deadline)
            plans = [engines[0].solve(problem, alone), other.result()]
        return min(plans, key=lambda plan: plan.objective)
