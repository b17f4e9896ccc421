"""A VROOM engine (pyvroom) behind the same :class:`~routing.solver.Solver` protocol.

VROOM expresses skills (set inclusion), several time windows, breaks with a start window,
priorities, capacities and visit limits. Pins become one extra skill per clerk. It has no
bound on a clerk's working time (only on travel), so problems with ``max_working_s`` are
refused. VROOM minimises travel duration; its plans are evaluated with our objective and
checked by :func:`routing.check.check_plan` like any other.

pyvroom is imported only here; it is a runtime dependency of the project.
"""

from __future__ import annotations

from datetime import timedelta

import vroom

from routing.model import Problem, RoutePlan
from routing.solver import RouteTimes, SolveParams, finish_plan, presolve


class VroomSolver:
    """Plan with VROOM at a given exploration level on ``threads`` threads."""

    name = "vroom"

    def __init__(self, exploration_level: int = 5, threads: int = 2) -> None:
        self.exploration_level = exploration_level
        self.threads = threads

    def solve(self, problem: Problem, params: SolveParams) -> RoutePlan:
        if any(clerk.max_working_s is not None for clerk in problem.clerks):
            raise ValueError("VROOM cannot bound a clerk's working time (max_working_s)")
        presolved = presolve(problem)
        skill_ids: dict[str, int] = {}
        for clerk in problem.clerks:
            for skill in sorted(clerk.skills):
                skill_ids.setdefault(skill, len(skill_ids) + 1)
        pin_base = len(skill_ids) + 1

        data = vroom.Input()
        data.set_durations_matrix("car", [list(row) for row in problem.matrix.seconds])
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
                    skills={skill_ids[s] for s in clerk.skills} | {pin_base + k},
                    time_window=vroom.TimeWindow(clerk.shift_start_s, clerk.shift_end_s),
                    breaks=breaks,
                    **extra,
                )
            )
        clerk_index = problem.clerk_index()
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
                    # VROOM priorities are 0..100; must-do visits rank above deferrable ones.
                    priority=min(100, 10 * visit.priority + (0 if visit.deferrable else 5)),
                    time_windows=[vroom.TimeWindow(w.start_s, w.end_s) for w in visit.windows],
                    **extra_job,
                )
            )
        timeout = None if params.time_limit_s is None else timedelta(seconds=params.time_limit_s)
        solution = data.solve(
            exploration_level=self.exploration_level, nb_threads=self.threads, timeout=timeout
        )
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
        return finish_plan(problem, times, presolved, params.weights, self.name)
