"""Independent re-verification of a plan against its problem, from scratch.

Nothing in a plan is trusted: arrivals, waiting and travel are recomputed from the matrix
and compared; windows, shifts, the break, skills, pins and limits are checked; every visit
must be in exactly one route or in ``unassigned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from routing.model import Clerk, Problem, Route, RoutePlan


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a stable ``code`` and a message naming the clerk and visit."""

    code: str
    message: str
    clerk_id: str | None = None
    visit_id: str | None = None


def check_plan(problem: Problem, plan: RoutePlan) -> list[Violation]:
    """Every rule the plan breaks; an empty list means the plan is feasible."""
    out: list[Violation] = []
    visit_index = problem.visit_index()
    clerk_index = problem.clerk_index()
    seen: dict[str, int] = {}
    clerks_seen: set[str] = set()

    for route in plan.routes:
        k = clerk_index.get(route.clerk_id)
        if k is None:
            out.append(Violation("unknown_clerk", f"no clerk {route.clerk_id}", route.clerk_id))
            continue
        if route.clerk_id in clerks_seen:
            out.append(
                Violation(
                    "duplicate_route", f"clerk {route.clerk_id} has two routes", route.clerk_id
                )
            )
        clerks_seen.add(route.clerk_id)
        for stop in route.stops:
            seen[stop.visit_id] = seen.get(stop.visit_id, 0) + 1
        out.extend(_check_route(problem, k, route, visit_index))

    for item in plan.unassigned:
        seen[item.visit_id] = seen.get(item.visit_id, 0) + 1
        if not item.message:
            out.append(
                Violation(
                    "no_explanation",
                    f"visit {item.visit_id} unassigned without a message",
                    visit_id=item.visit_id,
                )
            )
    for visit_id, count in seen.items():
        if visit_id not in visit_index:
            out.append(Violation("unknown_visit", f"no visit {visit_id}", visit_id=visit_id))
        elif count > 1:
            out.append(
                Violation(
                    "duplicate_visit", f"visit {visit_id} appears {count} times", visit_id=visit_id
                )
            )
    for visit in problem.visits:
        if visit.id not in seen:
            out.append(
                Violation(
                    "missing_visit",
                    f"visit {visit.id} is neither routed nor unassigned",
                    visit_id=visit.id,
                )
            )
    return out


def check_route(problem: Problem, route: Route) -> list[Violation]:
    """Every rule one route breaks on its own (plan-level rules — each visit once — aside)."""
    out: list[Violation] = []
    visit_index = problem.visit_index()
    k = problem.clerk_index().get(route.clerk_id)
    if k is None:
        return [Violation("unknown_clerk", f"no clerk {route.clerk_id}", route.clerk_id)]
    for stop in route.stops:
        if stop.visit_id not in visit_index:
            out.append(
                Violation("unknown_visit", f"no visit {stop.visit_id}", visit_id=stop.visit_id)
            )
    return out + _check_route(problem, k, route, visit_index)


def _check_route(
    problem: Problem, k: int, route: Route, visit_index: dict[str, int]
) -> list[Violation]:
    clerk = problem.clerks[k]
    cid = clerk.id
    out: list[Violation] = []

    def bad(code: str, message: str, visit_id: str | None = None) -> None:
        out.append(Violation(code, f"clerk {cid}: {message}", cid, visit_id))

    if not route.stops:
        bad("empty_route", "a route must serve at least one visit")
    if route.start_s < clerk.shift_start_s:
        bad("shift", f"leaves at {route.start_s}, before the shift starts {clerk.shift_start_s}")
    if route.end_s > clerk.shift_end_s:
        bad("shift", f"arrives back at {route.end_s}, after the shift ends {clerk.shift_end_s}")
    if route.end_s < route.start_s:
        bad("shift", "route ends before it starts")
    if clerk.max_working_s is not None and route.working_s > clerk.max_working_s:
        bad("max_working", f"works {route.working_s} s, more than {clerk.max_working_s} s")
    if clerk.max_visits is not None and len(route.stops) > clerk.max_visits:
        bad("max_visits", f"makes {len(route.stops)} visits, more than {clerk.max_visits}")

    lunch = route.lunch
    n = len(route.stops)
    if clerk.lunch is None:
        if lunch is not None:
            bad("break", "has a break but the clerk has none to take")
            lunch = None
    elif route.stops and lunch is None:
        bad("break_missing", "takes no break")
    if lunch is not None and clerk.lunch is not None:
        _check_break_bounds(clerk, lunch.start_s, lunch.duration_s, bad)
        if not 0 <= lunch.after_stops <= n:
            bad("break_position", f"break after {lunch.after_stops} of {n} stops")
            lunch = None

    # Where the break sits: inside leg p (between the point before and the service after),
    # or entirely before leaving (p == 0) or after arriving back (p == n).
    leg_break = -1
    if lunch is not None:
        p = lunch.after_stops
        before = route.start_s if p == 0 else route.stops[p - 1].departure_s
        after = route.end_s if p == n else route.stops[p].start_s
        if (p == 0 and lunch.end_s <= route.start_s) or (p == n and lunch.start_s >= route.end_s):
            pass
        elif before <= lunch.start_s and lunch.end_s <= after:
            leg_break = p
        else:
            bad(
                "break_overlap",
                f"break {lunch.start_s}..{lunch.end_s} is not between {before} and {after}",
            )

    capacity_used = 0
    point = problem.start_point(k)
    departure = route.start_s
    for j, stop in enumerate(route.stops):
        i = visit_index.get(stop.visit_id)
        if i is None:
            continue  # reported once at plan level
        visit = problem.visits[i]
        vid = visit.id
        capacity_used += visit.demand
        nxt = problem.visit_point(i)
        travel_s = problem.matrix.seconds[point][nxt]
        travel_m = problem.matrix.metres[point][nxt]
        if (stop.travel_s, stop.travel_m) != (travel_s, travel_m):
            bad(
                "travel_mismatch",
                f"visit {vid}: travel {stop.travel_s} s {stop.travel_m} m, "
                f"matrix says {travel_s} s {travel_m} m",
                vid,
            )
        pause = lunch.duration_s if lunch is not None and leg_break == j else 0
        arrival = departure + travel_s
        if pause and lunch is not None and lunch.start_s < arrival:
            arrival += pause
        if stop.arrival_s != arrival:
            bad(
                "arrival_mismatch",
                f"visit {vid}: arrival {stop.arrival_s}, expected {arrival}",
                vid,
            )
        waiting = stop.start_s - departure - travel_s - pause
        if waiting < 0:
            bad(
                "late",
                f"visit {vid}: service starts {stop.start_s}, cannot arrive before "
                f"{departure + travel_s + pause}",
                vid,
            )
        elif stop.waiting_s != waiting:
            bad(
                "waiting_mismatch",
                f"visit {vid}: waiting {stop.waiting_s}, expected {waiting}",
                vid,
            )
        if not visit.may_start(stop.start_s):
            bad("window", f"visit {vid}: service starts {stop.start_s}, outside its windows", vid)
        if stop.departure_s != stop.start_s + visit.service_s:
            bad(
                "departure_mismatch",
                f"visit {vid}: departs {stop.departure_s}, expected "
                f"{stop.start_s + visit.service_s}",
                vid,
            )
        if visit.skill is not None and visit.skill not in clerk.skills:
            bad("skill", f"visit {vid} needs skill {visit.skill}", vid)
        if visit.clerk_id is not None and visit.clerk_id != cid:
            bad("pin", f"visit {vid} is pinned to clerk {visit.clerk_id}", vid)
        point = nxt
        departure = stop.start_s + visit.service_s

    end_point = problem.end_point(k)
    travel_s = problem.matrix.seconds[point][end_point]
    travel_m = problem.matrix.metres[point][end_point]
    if (route.end_travel_s, route.end_travel_m) != (travel_s, travel_m):
        bad(
            "travel_mismatch",
            f"back to the end: travel {route.end_travel_s} s "
            f"{route.end_travel_m} m, matrix says {travel_s} s {travel_m} m",
        )
    pause = lunch.duration_s if lunch is not None and leg_break == n else 0
    waiting = route.end_s - departure - travel_s - pause
    if waiting < 0:
        bad("late", f"arrives back at {route.end_s}, cannot before {departure + travel_s + pause}")
    elif route.end_waiting_s != waiting:
        bad("waiting_mismatch", f"end waiting {route.end_waiting_s}, expected {waiting}")
    if clerk.capacity is not None and capacity_used > clerk.capacity:
        bad("capacity", f"carries {capacity_used}, more than {clerk.capacity}")
    return out


def _check_break_bounds(clerk: Clerk, start_s: int, duration_s: int, bad: _Bad) -> None:
    assert clerk.lunch is not None
    if duration_s < clerk.lunch.duration_s:
        bad("break_duration", f"break of {duration_s} s, shorter than {clerk.lunch.duration_s} s")
    if start_s < clerk.lunch.earliest_start_s or start_s + duration_s > clerk.lunch.latest_end_s:
        bad(
            "break_window",
            f"break {start_s}..{start_s + duration_s} outside "
            f"{clerk.lunch.earliest_start_s}..{clerk.lunch.latest_end_s}",
        )


class _Bad(Protocol):
    def __call__(self, code: str, message: str, visit_id: str | None = None) -> None: ...
