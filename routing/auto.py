"""Engine choice: the engines that can express the problem; VROOM first, then OR-Tools.

Measured (docs/benchmarks.md, Routing): on plain time-window problems PyVRP is far ahead
of every other engine, so it plans them alone. Home-visit days (breaks, skills, pins, a
previous plan to stay close to) are planned in two steps when pyvroom is installed and
the day has no working-time bound: VROOM first, on two threads in a warm worker process
(:mod:`routing._portfolio`), with :data:`VROOM_SHARE` of the time limit; then, for the
time that is left, OR-Tools in this process warm-started from VROOM's plan and OR-Tools in
the worker from scratch (or from the caller's ``initial``). The warm search's guided local
search starts from VROOM's routes and optimises our objective (:class:`~routing.model.
ObjectiveWeights`: priority, then visits served, then must-do visits, then cost), which
VROOM does not see in full (it minimises travel). The plan with the lower objective is
kept, VROOM's on a tie, so the result is never worse than the VROOM plan of the same
call. An engine that fails is logged and the other's plan is used: when VROOM fails,
OR-Tools searches from scratch for the time left. Every plan is checked by
``check_plan``. PyVRP and pyvroom are runtime dependencies of the project; where an
install lacks them, OR-Tools plans alone.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import replace

from routing import _portfolio
from routing._ortools import OrToolsSolver
from routing.model import Problem, RoutePlan
from routing.solver import SolveParams, Solver

log = logging.getLogger(__name__)

# The part of the time limit the first engine (VROOM) gets; the rest goes to OR-Tools
# warm-started from its plan (and OR-Tools from scratch in the worker).
VROOM_SHARE = 0.5
# Below this many seconds left, OR-Tools is not started after a successful first engine.
MIN_FOLLOW_UP_S = 0.2


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def candidates(problem: Problem, params: SolveParams | None = None) -> list[Solver]:
    """The engines :class:`AutoSolver` runs for this problem, the in-process one first."""
    replanning = params is not None and params.previous is not None
    if _installed("pyvrp") and not replanning:
        from routing._pyvrp import PyVrpSolver, can_stop, expressible

        if expressible(problem) and (params is None or can_stop(params)):
            return [PyVrpSolver()]
    engines: list[Solver] = [OrToolsSolver()]
    if _installed("vroom") and all(c.max_working_s is None for c in problem.clerks):
        from routing._vroom import VroomSolver

        # Two threads, as VROOM alone would run: its plans depend on the thread count.
        engines.append(VroomSolver(threads=2))
    return engines


def choose(problem: Problem) -> Solver:
    """The first (in-process) engine for this problem."""
    return candidates(problem)[0]


def _solve(engine: Solver, problem: Problem, params: SolveParams) -> RoutePlan:
    return engine.solve(problem, params)


class AutoSolver:
    """The other engine (VROOM) first in a warm worker, then the in-process one (OR-Tools)
    warm-started from its plan for the time left; the lower objective is kept."""

    name = "auto"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        engines = candidates(problem, params)
        if len(engines) == 1:
            return engines[0].solve(problem, params)
        local, others = engines[0], engines[1:]
        # The worker's start-up (1-2 s on the first call) must not come out of the search
        # time: the clock starts once the worker is warm.
        _portfolio.prepare(len(others))
        started = time.monotonic()
        alone = replace(params, workers=1)
        first = alone
        if params.time_limit_s is not None:
            first = replace(alone, time_limit_s=params.time_limit_s * VROOM_SHARE)
        results: list[RoutePlan | BaseException] = [
            _portfolio.remote(_solve, (engine, problem, first)) for engine in others
        ]
        plans = [r for r in results if not isinstance(r, BaseException)]
        best = min(plans, key=lambda plan: plan.objective, default=None)
        if params.time_limit_s is not None:
            left = params.time_limit_s - (time.monotonic() - started)
            if best is not None and left < MIN_FOLLOW_UP_S:
                log.info("no time left to improve %s's plan (%.2f s)", best.engine, left)
                return best
            alone = replace(alone, time_limit_s=max(MIN_FOLLOW_UP_S, left))
        if best is None:  # the first engine failed: the in-process one from scratch
            plans.append(local.solve(problem, alone))
            return plans[0]
        # Here from the first engine's plan; from scratch in the worker, whose core would
        # otherwise be idle (a search from scratch finds other plans: must-do visits).
        warm = replace(alone, initial=best)
        second = _portfolio.race(
            lambda: local.solve(problem, warm), [(_solve, (local, problem, alone))]
        )
        plans += [r for r in second if not isinstance(r, BaseException)]
        # The first engine's plan on a tie.
        return min(plans, key=lambda plan: plan.objective)
