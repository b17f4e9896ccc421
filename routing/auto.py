"""Engine choice: the strongest engine that can express the problem.

Home-visit days have lunch breaks, skills and pins: OR-Tools plans them. Plain
time-window days (no break, skill, pin, visit limit or second window) go to PyVRP when it
is installed, because on those it is measurably better (docs/benchmarks.md, Routing).
"""

from __future__ import annotations

import importlib.util

from routing._ortools import OrToolsSolver
from routing.model import Problem, RoutePlan
from routing.solver import SolveParams, Solver


def choose(problem: Problem) -> Solver:
    """The engine :class:`AutoSolver` uses for this problem."""
    if importlib.util.find_spec("pyvrp") is not None:
        from routing._pyvrp import PyVrpSolver, expressible

        if expressible(problem):
            return PyVrpSolver()
    return OrToolsSolver()


class AutoSolver:
    """Plans with :func:`choose`'s engine; every plan is checked by ``check_plan``."""

    name = "auto"

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        return choose(problem).solve(problem, params)
