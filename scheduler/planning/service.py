"""Planning a date: bookings and shifts -> a routing problem -> a checked, explained plan,
stored as a new version in one transaction (earlier versions are kept).

One function per step, all taking a Session and ``now``; none commits:

- ``compute(session, day, ...)`` reads and solves (no writes: on SQLite the writer lock
  is not held while the solver runs);
- ``store(session, computed, ...)`` writes the version;
- ``plan_day`` = both, used by the nightly job, re-plan requests and ``onetrip plan``.

The problem is built by ``scheduler.planning.problem`` (which also stores it as JSON) and
what is left out is worded by ``scheduler.planning.explain``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routing.model import (
    Clerk,
    Problem,
    Reason,
    Route,
    RoutePlan,
    Unassigned,
    build_problem,
)
from routing.solver import SolveParams, Solver
from routing.travel import TravelModel
from scheduler.planning import bookings as bk
from scheduler.planning import engine
from scheduler.planning.explain import explain
from scheduler.planning.models import DRAFT, Adjustment, PlanVersion
from scheduler.planning.problem import (
    SHIFT,
    H,
    default_travel,
    depot,
    make_clerks,
    make_visits,
    plan_from_json,
    plan_to_json,
    problem_from_json,
    problem_to_json,
)

WINDOW_S = 3600  # the window published to the resident


def default_params(time_limit_s: float = 5.0) -> SolveParams:
    return SolveParams(time_limit_s=time_limit_s, branch_limit=None)


# -- the dispatcher's standing instructions ---------------------------------------------


def adjustments(session: Session, day: date) -> tuple[dict[int, int], list[int]]:
    """Active pins (booking -> clerk) and absent clerks of a date."""
    pins: dict[int, int] = {}
    absent: list[int] = []
    for a in session.scalars(
        select(Adjustment).where(Adjustment.date == day, Adjustment.active).order_by(Adjustment.id)
    ):
        if a.kind == "pin" and a.booking_id is not None:
            pins[a.booking_id] = a.clerk_id
        elif a.kind == "absent":
            absent.append(a.clerk_id)
    return pins, absent


def absent_clerks(session: Session, day: date) -> list[int]:
    """Clerks the board marked absent (请假) for a date."""
    return adjustments(session, day)[1]


# -- figures ------------------------------------------------------------------------------


def hhmm(s: int) -> str:
    """Seconds since midnight as a clock time, ``09:05``."""
    return f"{s // H:02d}:{s % H // 60:02d}"


def figures(problem: Problem, plan: RoutePlan, lateness_s: int) -> dict[str, Any]:
    urgent_ids = {v.id for v in problem.visits if v.priority > 0}
    served = {s.visit_id for r in plan.routes for s in r.stops}
    return {
        "booked": len(problem.visits),
        "served": len(served),
        "unassigned": len(plan.unassigned),
        "urgent": len(urgent_ids),
        "urgent_served": len(urgent_ids & served),
        "travel_km": round(plan.travel_m / 1000, 1),
        "travel_h": round(plan.travel_s / H, 2),
        "lateness_s": lateness_s,
        "clerks": [
            {
                "clerk_id": r.clerk_id,
                "visits": len(r.stops),
                "working_min": r.working_s // 60,
                "first": hhmm(r.stops[0].start_s) if r.stops else "",
                "last": hhmm(r.stops[-1].start_s) if r.stops else "",
                "leave": hhmm(r.start_s),
                "back": hhmm(r.end_s),
            }
            for r in plan.routes
        ],
    }


def lateness(problem: Problem, plan: RoutePlan) -> int:
    by_id = {v.id: v for v in problem.visits}
    late = 0
    for r in plan.routes:
        for s in r.stops:
            late += max(0, s.start_s - by_id[s.visit_id].windows[-1].end_s)
    return late


# -- compute and store --------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    day: date
    problem: Problem
    plan: RoutePlan
    explained: list[dict[str, Any]]
    figures: dict[str, Any]
    solve_ms: int
    based_on: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def latest(session: Session, day: date, status: str | None = None) -> PlanVersion | None:
    q = select(PlanVersion).where(PlanVersion.date == day)
    if status:
        q = q.where(PlanVersion.status == status)
    return session.scalar(q.order_by(PlanVersion.version.desc()).limit(1))


def compute(
    session: Session,
    day: date,
    *,
    catalog: Any,
    params: SolveParams | None = None,
    solver: Solver | None = None,
    travel: TravelModel | None = None,
    warm: bool = True,
) -> Computed:
    """Read the date's bookings, shifts and adjustments; solve; check; explain."""
    rows = bk.bookings_of(session, day)
    pins, absent = adjustments(session, day)
    days = bk.clerk_days(session, day, absent)
    clerks = make_clerks(depot(catalog), days)
    on_shift = {int(c.id) for c in clerks}
    # A pin to a clerk who is absent or off shift no longer holds: anyone may serve it.
    visits = make_visits(catalog, rows, {b: c for b, c in pins.items() if c in on_shift})
    previous = latest(session, day)
    if not clerks:
        # Nobody on shift: every booking is unassigned, for a reason the dispatcher sees.
        clerks_for_problem = [Clerk("none", depot(catalog), depot(catalog), 0, 0)]
        problem = build_problem(visits, clerks_for_problem, travel or default_travel())
        plan = RoutePlan(
            (),
            tuple(Unassigned(v.id, Reason.OUTSIDE_SHIFTS, "当天没有办事员当班") for v in visits),
            0,
            "none",
        )
        ms = 0
    else:
        problem = build_problem(visits, clerks, travel or default_travel())
        warm_plan = None
        if warm and previous is not None:
            warm_plan = _still_valid(problem, plan_from_json(json.loads(previous.plan_json)))
        t0 = time.perf_counter()
        plan = engine.solve(problem, params or default_params(), previous=warm_plan, solver=solver)
        ms = round((time.perf_counter() - t0) * 1000)
    by_id = {str(b.id): b for b in rows}
    explained = explain(session, day, problem, plan, by_id, catalog)
    figs = figures(problem, plan, lateness(problem, plan))
    return Computed(
        day,
        problem,
        plan,
        explained,
        figs,
        ms,
        previous.id if previous else None,
        {"absent": absent},
    )


def _still_valid(problem: Problem, plan: RoutePlan) -> RoutePlan:
    """A previous plan reduced to the visits and clerks the new problem still has."""
    visits = problem.visit_index()
    clerks = problem.clerk_index()
    routes = tuple(
        Route(
            r.clerk_id,
            r.start_s,
            tuple(s for s in r.stops if s.visit_id in visits),
            r.end_s,
            r.end_travel_s,
            r.end_travel_m,
            r.end_waiting_s,
            None,
        )
        for r in plan.routes
        if r.clerk_id in clerks
    )
    return RoutePlan(routes, (), plan.objective, plan.engine)


def store(
    session: Session,
    c: Computed,
    *,
    now: datetime,
    kind: str,
    staff_id: int | None = None,
) -> PlanVersion:
    """Write the computed plan as the date's next version (flushes; the caller commits)."""
    number = (
        session.scalar(select(func.max(PlanVersion.version)).where(PlanVersion.date == c.day)) or 0
    ) + 1
    v = PlanVersion(
        date=c.day,
        version=number,
        kind=kind,
        status=DRAFT,
        based_on=c.based_on,
        engine=c.plan.engine,
        created_at=bk.utc_naive(now),
        created_by_staff_id=staff_id,
        solve_ms=c.solve_ms,
        problem_json=json.dumps(problem_to_json(c.problem)),
        plan_json=json.dumps(plan_to_json(c.plan, c.explained), ensure_ascii=False),
        figures_json=json.dumps(c.figures, ensure_ascii=False),
    )
    session.add(v)
    session.flush()
    return v


def plan_day(
    session: Session,
    day: date,
    *,
    catalog: Any,
    now: datetime,
    kind: str = "manual",
    params: SolveParams | None = None,
    solver: Solver | None = None,
    staff_id: int | None = None,
) -> PlanVersion:
    """Compute and store the date's plan (the caller commits)."""
    c = compute(session, day, catalog=catalog, params=params, solver=solver)
    return store(session, c, now=now, kind=kind, staff_id=staff_id)


def store_edit(
    session: Session,
    base: PlanVersion,
    plan: RoutePlan,
    *,
    catalog: Any,
    now: datetime,
    staff_id: int | None,
) -> PlanVersion:
    """A dispatcher's edited plan (already checked clean) as the next version."""
    problem = problem_from_json(json.loads(base.problem_json))
    rows = {str(b.id): b for b in bk.bookings_of(session, base.date)}
    rows.update(
        {
            str(b.id): b
            for b in session.scalars(
                select(bk.Booking).where(bk.Booking.id.in_([int(v.id) for v in problem.visits]))
            )
        }
    )
    explained = explain(session, base.date, problem, plan, rows, catalog)
    c = Computed(
        base.date,
        problem,
        plan,
        explained,
        figures(problem, plan, lateness(problem, plan)),
        0,
        base.id,
    )
    return store(session, c, now=now, kind="edit", staff_id=staff_id)


# -- views of a stored version ------------------------------------------------------------


def loaded(v: PlanVersion) -> tuple[Problem, RoutePlan, dict[str, Any]]:
    data = json.loads(v.plan_json)
    return problem_from_json(json.loads(v.problem_json)), plan_from_json(data), data


def compare(a: PlanVersion, b: PlanVersion) -> dict[str, list[dict[str, Any]]]:
    """What changed from version ``a`` to ``b``: visits added, dropped, moved between
    clerks, and times shifted by more than 30 minutes."""

    def where(v: PlanVersion) -> dict[str, tuple[str, int]]:
        data = json.loads(v.plan_json)
        return {s[0]: (r["clerk_id"], s[2]) for r in data["routes"] for s in r["stops"]}

    old, new = where(a), where(b)
    out: dict[str, list[dict[str, Any]]] = {"added": [], "dropped": [], "moved": [], "shifted": []}
    for vid in sorted(set(new) - set(old), key=int):
        out["added"].append({"visit_id": vid, "clerk_id": new[vid][0], "start": hhmm(new[vid][1])})
    for vid in sorted(set(old) - set(new), key=int):
        out["dropped"].append({"visit_id": vid, "clerk_id": old[vid][0]})
    for vid in sorted(set(old) & set(new), key=int):
        (c1, t1), (c2, t2) = old[vid], new[vid]
        if c1 != c2:
            out["moved"].append({"visit_id": vid, "from": c1, "to": c2})
        if abs(t2 - t1) > 30 * 60:
            out["shifted"].append(
                {"visit_id": vid, "from": hhmm(t1), "to": hhmm(t2), "minutes": (t2 - t1) // 60}
            )
    return out


def one_hour_window(day: date, start_s: int, half_day: str) -> tuple[datetime, datetime]:
    """The window told to the resident: an hour around the planned start, inside the
    booked half-day (aware, Shanghai)."""
    lo, hi = SHIFT[half_day]
    begin = start_s - 15 * 60
    begin -= begin % (15 * 60)
    begin = max(lo, min(begin, hi - WINDOW_S))
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=bk_tz())
    return midnight + timedelta(seconds=begin), midnight + timedelta(seconds=begin + WINDOW_S)


def bk_tz() -> Any:
    from scheduler.settings import TZ

    return TZ


def purge_versions(session: Session, *, today: date, older_than_days: int = 180) -> int:
    """Delete plan versions of dates more than N days past (they hold where residents
    live: the visits' coordinates). PIPL Arts. 19 and 47, as the bookings' own purge."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    limit = today - timedelta(days=older_than_days)
    old = list(session.scalars(select(PlanVersion).where(PlanVersion.date < limit)))
    ids = [v.id for v in old]
    if ids:
        from scheduler.planning.models import ReplanRequest

        for req in session.scalars(select(ReplanRequest).where(ReplanRequest.version_id.in_(ids))):
            req.version_id = None
        for v in old:
            session.delete(v)
        session.flush()
    return len(ids)
