"""A VROOM engine (pyvroom) behind the same :class:`~routing.solver.Solver` protocol.

VROOM expresses skills (set inclusion), several time windows, breaks with a start window,
priorities, capacities and visit limits. Pins become one extra skill per clerk. It has no
bound on a clerk's working time (only on travel), so problems with ``max_working_s`` are
refused. VROOM minimises travel duration; its plans are evaluated with our objective and
checked by :func:`routing.check.check_plan` like any other.

pyvroom is imported only here; it is a runtime dependency of the project.
"""

from __future__ import annotations

import time
from datetime import timedelta

import vroom

from routing.model import Problem, RoutePlan
from routing.solver import (
    Presolved,
    RouteTimes,
    SolveParams,
    finish_plan,
    presolve,
    previous_clerks,
)

# Seconds of one search at each exploration level, relative to level 0, one thread
# (measured on a 200-visit home-visit day: 0.5, 1.2, 2.3, 3.9, 7.6, 11.5 s).
LEVEL_COST = (1.0, 2.4, 4.5, 7.6, 15.0, 22.0)
# Re-planning costs: a cost matrix per clerk up to this many entries in all.
MATRIX_ENTRIES = 4_000_000


def vroom_priorities(problem: Problem) -> tuple[int, ...]:
    """VROOM priorities (0..100) for the visits, in visit order.

    VROOM ranks plans by the sum of served priorities, then by visits served, then by
    cost. Our order is lexicographic in priority, then count: each level is given one more
    than all lower levels' visits together (the lowest level is 0, left to VROOM's count).
    VROOM bounds each visit's priority by 100, not their sum; when the highest level's
    value would exceed 100, the levels are spread evenly over 0..100 by rank instead, the
    closest a sum can come.
    """
    levels = sorted({visit.priority for visit in problem.visits})
    value = {levels[0]: 0} if levels else {}
    total = 0
    for level in levels[1:]:
        value[level] = total + 1
        total += value[level] * sum(1 for v in problem.visits if v.priority == level)
    if max(value.values(), default=0) > 100:
        top = max(1, len(levels) - 1)
        value = {level: round(100 * rank / top) for rank, level in enumerate(levels)}
    return tuple(value[visit.priority] for visit in problem.visits)


class VroomSolver:
    """Plan with VROOM on ``threads`` threads.

    With a time limit, searches run without VROOM's own timeout (it splits the limit over
    its searches and cuts each short): level 0 first, then the highest exploration level
    whose expected time (scaled from the searches so far) fits what is left, then the
    other levels that still fit, highest first; the best plan by our objective is kept.
    ``exploration_level`` caps the level (and is the one level run without a time limit).
    """

    name = "vroom"

    def __init__(self, exploration_level: int = 5, threads: int = 2) -> None:
        self.exploration_level = exploration_level
        self.threads = threads

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        started = time.monotonic()
        if any(clerk.max_working_s is not None for clerk in problem.clerks):
            raise ValueError("VROOM cannot bound a clerk's working time (max_working_s)")
        presolved = presolve(problem)
        if params.time_limit_s is None:
            return self._run(problem, params, presolved, self.exploration_level, None)
        best: RoutePlan | None = None
        level = 0
        done: set[int] = set()
        per_unit = 0.0  # seconds per LEVEL_COST unit, from the runs so far
        while True:
            left = params.time_limit_s - (time.monotonic() - started)
            began = time.monotonic()
            plan = self._run(problem, params, presolved, level, max(0.05, left))
            took = max(1e-3, time.monotonic() - began)
            done.add(level)
            per_unit = max(per_unit, took / LEVEL_COST[level])
            if best is None or plan.objective < best.objective:
                best = plan
            left = params.time_limit_s - (time.monotonic() - started)
            # The highest level that fits first; then, with the time left, the others,
            # highest first (levels do not dominate each other: each may find the best).
            fits = [
                other
                for other in range(self.exploration_level, 0, -1)
                if other not in done and per_unit * LEVEL_COST[other] <= left
            ]
            if not fits:
                return best
            level = fits[0]

    def _run(
        self,
        problem: Problem,
        params: SolveParams,
        presolved: Presolved,
        level: int,
        timeout_s: float | None,
    ) -> RoutePlan:
        data = self._input(problem, params, presolved)
        # The timeout is only a safety net: levels are chosen to finish without it.
        timeout = None if timeout_s is None else timedelta(seconds=timeout_s)
        solution = data.solve(exploration_level=level, nb_threads=self.threads, timeout=timeout)
        routes: dict[int, dict[str, list[int]]] = {}
        for row in solution.routes.itertuples():
            k = int(row.vehicle_id) - 1
            route = routes.setdefault(k, {"visits": [], "starts": [], "bounds": [], "lunch": []})
            begin = int(row.arrival) + int(row.waiting_time)
            if row.type == "job":
                route["visits"].append(int(row.id) - 1)
                route["starts"].append(begin)
            elif row.type == "break":
                route["lunch"].append(begin)
            elif row.type in ("start", "end"):
                route["bounds"].append(int(row.arrival))
        times = [
            RouteTimes(
                clerk=k,
                visits=tuple(r["visits"]),
                start_s=r["bounds"][0],
                service_starts=tuple(r["starts"]),
                end_s=r["bounds"][-1],
                lunch_start_s=r["lunch"][0] if r["lunch"] else None,
            )
            for k, r in sorted(routes.items())
        ]
        return finish_plan(problem, times, presolved, params.weights, self.name, params.previous)

    def _input(self, problem: Problem, params: SolveParams, presolved: Presolved) -> vroom.Input:
        skill_ids: dict[str, int] = {}
        for clerk in problem.clerks:
            for skill in sorted(clerk.skills):
                skill_ids.setdefault(skill, len(skill_ids) + 1)
        pin_base = len(skill_ids) + 1

        data = vroom.Input()
        durations = [list(row) for row in problem.matrix.seconds]
        # Re-planning: each clerk is a profile of their own whose cost of arriving at a
        # visit the previous plan gave another clerk is raised by ``changed_clerk``,
        # converted to seconds of working time (VROOM's cost unit is travel seconds).
        had = previous_clerks(problem, params.previous)
        size = len(durations)
        if had and size * size * len(problem.clerks) > MATRIX_ENTRIES:
            had = {}
        change_s = params.weights.changed_clerk // max(1, params.weights.working_s)
        profiles = []
        for k, clerk in enumerate(problem.clerks):
            if not had:
                profiles.append("car")
                continue
            profile = f"clerk{k}"
            profiles.append(profile)
            extra_cost = [0] * size
            for i, visit in enumerate(problem.visits):
                if had.get(visit.id, clerk.id) != clerk.id:
                    extra_cost[problem.visit_point(i)] = change_s
            data.set_durations_matrix(profile, durations)
            data.set_costs_matrix(
                profile, [[d + extra_cost[b] for b, d in enumerate(row)] for row in durations]
            )
        if not had:
            data.set_durations_matrix("car", durations)
        has_capacity = any(clerk.capacity is not None for clerk in problem.clerks)
        total_demand = sum(visit.demand for visit in problem.visits)
        for k, clerk in enumerate(problem.clerks):
            breaks = []
            if clerk.lunch is not None:
                breaks.append(
                    vroom.Break(
                        1,
                        time_windows=[
                            vroom.TimeWindow(
                                clerk.lunch.earliest_start_s, clerk.lunch.latest_start_s
                            )
                        ],
                        service=clerk.lunch.duration_s,
                    )
                )
            extra: dict[str, object] = {}
            if clerk.max_visits is not None:
                extra["max_tasks"] = clerk.max_visits
            if has_capacity:
                extra["capacity"] = [total_demand if clerk.capacity is None else clerk.capacity]
            data.add_vehicle(
                vroom.Vehicle(
                    k + 1,
                    start=problem.start_point(k),
                    end=problem.end_point(k),
                    profile=profiles[k],
                    skills={skill_ids[s] for s in clerk.skills} | {pin_base + k},
                    time_window=vroom.TimeWindow(clerk.shift_start_s, clerk.shift_end_s),
                    breaks=breaks,
                    **extra,
                )
            )
        clerk_index = problem.clerk_index()
        priorities = vroom_priorities(problem)
        for i, visit in enumerate(problem.visits):
            if not presolved.eligible[i]:
                continue
            skills: set[int] = set()
            if visit.skill is not None:
                skills.add(skill_ids[visit.skill])
            if visit.clerk_id is not None:
                skills.add(pin_base + clerk_index[visit.clerk_id])
            extra_job: dict[str, object] = {}
            if has_capacity:
                extra_job["delivery"] = vroom.Amount([visit.demand])
            data.add_job(
                vroom.Job(
                    i + 1,
                    location=problem.visit_point(i),
                    default_service=visit.service_s,
                    skills=skills,
                    priority=priorities[i],
                    time_windows=[vroom.TimeWindow(w.start_s, w.end_s) for w in visit.windows],
                    **extra_job,
                )
            )
        return data
