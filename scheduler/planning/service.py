"""Planning a date: bookings and shifts -> a routing problem -> a checked, explained plan,
stored as a new version in one transaction (earlier versions are kept).

One function per step, all taking a Session and ``now``; none commits:

- ``compute(session, day, ...)`` reads and solves (no writes: on SQLite the writer lock
  is not held while the solver runs);
- ``store(session, computed, ...)`` writes the version;
- ``plan_day`` = both, used by the nightly job, re-plan requests and ``onetrip plan``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routing.explain import (
    ADD_SKILL,
    LATER_LUNCH,
    LATER_SHIFT_END,
    LONGER_WORKING,
    MORE_CAPACITY,
    MORE_VISITS,
    Explanation,
    Relaxation,
)
from routing.geo import Datum, LatLon, to_wgs84
from routing.model import (
    Break,
    BreakTaken,
    Clerk,
    Problem,
    Reason,
    Route,
    RoutePlan,
    Stop,
    TimeWindow,
    Unassigned,
    Visit,
    build_problem,
)
from routing.solver import SolveParams, Solver
from routing.travel import GeodesicTravelModel, TravelModel
from scheduler.booking.capacity import service_s
from scheduler.planning import bookings as bk
from scheduler.planning import engine
from scheduler.planning.models import DRAFT, Adjustment, PlanVersion

H = 3600
# The visiting day (seconds from midnight, Shanghai): shifts, service-begin windows of
# the booked half-day, and the lunch break of a clerk out both half-days.
SHIFT = {"am": (8 * H + 1800, 12 * H), "pm": (13 * H + 1800, 17 * H + 1800)}
BEGIN = {"am": (8 * H + 1800, 11 * H + 1800), "pm": (13 * H + 1800, 17 * H)}
LUNCH = Break(3600, 11 * H + 1800, 14 * H)
WINDOW_S = 3600  # the window published to the resident
ANY_SKILL = "any"


def default_travel() -> TravelModel:
    return GeodesicTravelModel(ellipsoidal=False)


def default_params(time_limit_s: float = 5.0) -> SolveParams:
    return SolveParams(time_limit_s=time_limit_s, branch_limit=None)


# -- the problem ----------------------------------------------------------------------


def visit_skill(skill: str | None, zone: str, half_day: str) -> str:
    """Skills say what a clerk can do AND where and when they are out: ``skill@zone/half``."""
    return f"{skill or ANY_SKILL}@{zone}/{half_day}"


def depot(catalog: Any) -> LatLon:
    """Where clerks start and end: the county hall (WGS-84, the datum of routing)."""
    for office in catalog.offices.values():
        if getattr(office.kind, "value", office.kind) == "hall" and office.location:
            loc = office.location
            return to_wgs84(LatLon(loc.lat, loc.lon), Datum(loc.datum))
    raise ValueError("the catalog has no county hall with a location")


def booking_point(catalog: Any, b: bk.Booking) -> LatLon:
    if b.lat is not None and b.lon is not None:
        return to_wgs84(LatLon(b.lat, b.lon), Datum(b.datum or Datum.GCJ02.value))
    town = catalog.townships[b.town_code]
    return to_wgs84(LatLon(town.lat, town.lon), Datum.GCJ02)


def urgent(b: bk.Booking) -> bool:
    return b.reason == "illness" or b.disability_grade == 1


def item_skill(catalog: Any, item_code: str) -> str | None:
    item = catalog.items.get(item_code)
    return item.home_visit.skill if item else None


def make_visits(catalog: Any, rows: Sequence[bk.Booking], pins: dict[int, int]) -> list[Visit]:
    out = []
    for b in rows:
        begin = BEGIN[b.half_day]
        out.append(
            Visit(
                id=str(b.id),
                location=booking_point(catalog, b),
                service_s=service_s(catalog, b.item_code),
                windows=(TimeWindow(*begin),),
                skill=visit_skill(item_skill(catalog, b.item_code), b.zone_code, b.half_day),
                priority=2 if urgent(b) else 0,
                clerk_id=str(pins[b.id]) if b.id in pins else None,
            )
        )
    return out


def make_clerks(home: LatLon, days: Sequence[bk.ClerkDay]) -> list[Clerk]:
    out = []
    for cd in days:
        halves = sorted(cd.zones)
        skills = {
            visit_skill(s, zone, half)
            for half, zone in cd.zones.items()
            for s in (*cd.skills, None)
        }
        start, end = SHIFT[halves[0]][0], SHIFT[halves[-1]][1]
        out.append(
            Clerk(
                id=str(cd.clerk_id),
                start=home,
                end=home,
                shift_start_s=start,
                shift_end_s=end,
                skills=frozenset(skills),
                lunch=LUNCH if len(halves) == 2 else None,
            )
        )
    return out


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


# -- problem <-> JSON (a stored version keeps exactly what it planned) ------------------


def problem_to_json(problem: Problem) -> dict[str, Any]:
    return {
        "visits": [
            {
                "id": v.id,
                "lat": v.location.lat,
                "lon": v.location.lon,
                "service_s": v.service_s,
                "windows": [[w.start_s, w.end_s] for w in v.windows],
                "skill": v.skill,
                "priority": v.priority,
                "clerk_id": v.clerk_id,
            }
            for v in problem.visits
        ],
        "clerks": [
            {
                "id": c.id,
                "start": [c.start.lat, c.start.lon],
                "end": [c.end.lat, c.end.lon],
                "shift": [c.shift_start_s, c.shift_end_s],
                "skills": sorted(c.skills),
                "lunch": [c.lunch.duration_s, c.lunch.earliest_start_s, c.lunch.latest_end_s]
                if c.lunch
                else None,
            }
            for c in problem.clerks
        ],
    }


def problem_from_json(data: dict[str, Any], travel: TravelModel | None = None) -> Problem:
    visits = [
        Visit(
            id=v["id"],
            location=LatLon(v["lat"], v["lon"]),
            service_s=v["service_s"],
            windows=tuple(TimeWindow(s, e) for s, e in v["windows"]),
            skill=v["skill"],
            priority=v["priority"],
            clerk_id=v["clerk_id"],
        )
        for v in data["visits"]
    ]
    clerks = [
        Clerk(
            id=c["id"],
            start=LatLon(*c["start"]),
            end=LatLon(*c["end"]),
            shift_start_s=c["shift"][0],
            shift_end_s=c["shift"][1],
            skills=frozenset(c["skills"]),
            lunch=Break(*c["lunch"]) if c["lunch"] else None,
        )
        for c in data["clerks"]
    ]
    return build_problem(visits, clerks, travel or default_travel())


def plan_to_json(plan: RoutePlan, explained: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "engine": plan.engine,
        "objective": plan.objective,
        "routes": [
            {
                "clerk_id": r.clerk_id,
                "start_s": r.start_s,
                "end_s": r.end_s,
                "end_travel_s": r.end_travel_s,
                "end_travel_m": r.end_travel_m,
                "end_waiting_s": r.end_waiting_s,
                "lunch": [r.lunch.start_s, r.lunch.duration_s, r.lunch.after_stops]
                if r.lunch
                else None,
                "stops": [
                    [
                        s.visit_id,
                        s.arrival_s,
                        s.start_s,
                        s.departure_s,
                        s.travel_s,
                        s.travel_m,
                        s.waiting_s,
                    ]
                    for s in r.stops
                ],
            }
            for r in plan.routes
        ],
        "unassigned": list(explained),
    }


def plan_from_json(data: dict[str, Any]) -> RoutePlan:
    routes = tuple(
        Route(
            clerk_id=r["clerk_id"],
            start_s=r["start_s"],
            stops=tuple(Stop(*s) for s in r["stops"]),
            end_s=r["end_s"],
            end_travel_s=r["end_travel_s"],
            end_travel_m=r["end_travel_m"],
            end_waiting_s=r["end_waiting_s"],
            lunch=BreakTaken(r["lunch"][0], r["lunch"][1], r["lunch"][2]) if r["lunch"] else None,
        )
        for r in data["routes"]
    )
    unassigned = tuple(
        Unassigned(u["visit_id"], Reason(u["reason"]), u["message"]) for u in data["unassigned"]
    )
    return RoutePlan(routes, unassigned, data.get("objective", 0), data.get("engine", ""))


# -- explanations -----------------------------------------------------------------------


def hhmm(s: int) -> str:
    """Seconds since midnight as a clock time, ``09:05``."""
    return f"{s // H:02d}:{s % H // 60:02d}"


def explain(
    session: Session,
    day: date,
    problem: Problem,
    plan: RoutePlan,
    rows: dict[str, bk.Booking],
    catalog: Any,
) -> list[dict[str, Any]]:
    """Per unassigned visit: reason code, a Chinese message, the best failed insertion per
    clerk and the smallest fix."""
    names = bk.clerk_names(session)
    zones = bk.zone_names(session)
    library = engine.explain(problem, plan) if plan.unassigned and plan.routes else {}
    out = []
    for u in plan.unassigned:
        b = rows[u.visit_id]
        half = bk.HALF_DAY_ZH[b.half_day]
        zone = zones.get(b.zone_code, b.zone_code).split("（")[0]
        skill = item_skill(catalog, b.item_code)
        skill_name = _skill_name(catalog, skill)
        slots = bk.open_slots(session, b.zone_code, day, limit=2)
        later = "；".join(f"{_md(d)}{bk.HALF_DAY_ZH[h]}{zone}还有 {n} 个空位" for d, h, n in slots)
        insertions: list[dict[str, Any]] = []
        if u.reason is Reason.NO_SKILL:
            message = f"{half}{zone}没有在班且具备「{skill_name}」技能的办事员"
            fix = f"为{zone}{half}安排一名具备「{skill_name}」技能的办事员，或与居民改约" + (
                f"（{later}）" if later else ""
            )
        elif u.reason is Reason.OUTSIDE_SHIFTS:
            message = f"{half}没有办事员在{zone}当班"
            fix = f"为{zone}{half}排班，或改约" + (f"（{later}）" if later else "")
        elif u.reason is Reason.UNREACHABLE_IN_WINDOW:
            message = "没有办事员能在预约时段内赶到并在下班前返回（已计入路程、办理时间和午休）"
            fix = "改约到其他时段，或安排从更近的服务中心出发的办事员"
        else:
            # Full routes (time, visit count): routing.explain tried every place in every
            # clerk's route; the reason is the best place with a clerk already out there,
            # the fix the smallest change it verified (which may put another clerk there).
            lib = library.get(u.visit_id)
            words = _Words(names, zones, catalog)
            insertions = _insertions(lib, words) if lib is not None else []
            there = [
                ins
                for ins in (lib.insertions if lib is not None else ())
                if ins.position is not None and all(r.kind != ADD_SKILL for r in ins.binding)
            ]
            best = min(there, key=lambda ins: ins.cost) if there else None
            if best is None or best.position is None:
                message = f"{half}{zone}当班的办事员都排不下此次上门"
            else:
                who = words.clerk(best.clerk_id)
                if not best.binding:
                    message = f"{who} 的路线还可以插入此次上门（第 {best.position + 1} 站）"
                else:
                    message = (
                        f"{who} 的{half}已满：排在第 {best.position + 1} 站需"
                        + "，并且".join(words.change(r) for r in best.binding)
                    )
            fixed = lib.fix if lib is not None else None
            if fixed is None or fixed.position is None:
                fix = "增派一名办事员，或改约" + (f"（{later}）" if later else "")
            elif not fixed.binding:
                fix = f"把它移到 {words.clerk(fixed.clerk_id)} 的路线上"
            else:
                fix = (
                    "，并且".join(words.change(r) for r in fixed.binding)
                    + f"，即可排进 {words.clerk(fixed.clerk_id)} 的路线；或改约"
                    + (f"（{later}）" if later else "")
                )
        out.append(
            {
                "visit_id": u.visit_id,
                "reason": u.reason.value,
                "message": message,
                "fix": fix,
                "insertions": insertions,
            }
        )
    return out


@dataclass(frozen=True)
class _Words:
    """routing.explain's changes worded for the dispatcher: clerk and zone names."""

    names: dict[int, str]
    zones: dict[str, str]
    catalog: Any

    def clerk(self, clerk_id: str) -> str:
        return self.names.get(int(clerk_id), clerk_id) if clerk_id.isdigit() else clerk_id

    def change(self, r: Relaxation) -> str:
        who = self.clerk(r.clerk_id)
        minutes = f"{r.minutes} 分钟"
        if r.kind == ADD_SKILL:
            # Visit skills are ``skill@zone/half`` (see visit_skill): the change puts the
            # clerk out in that zone and half-day, holding the skill.
            base, _, where = (r.skill or "").partition("@")
            zone_code, _, half = where.partition("/")
            zone = self.zones.get(zone_code, zone_code).split("（")[0]
            name = _skill_name(self.catalog, None if base == ANY_SKILL else base)
            return f"安排{who}{bk.HALF_DAY_ZH.get(half, half)}到{zone}上门（需具备「{name}」技能）"
        if r.kind == MORE_VISITS:
            return f"{who}当天多上门 {r.amount} 次"
        if r.kind == MORE_CAPACITY:
            return f"{who}的携带量上限增加 {r.amount}"
        if r.kind == LATER_SHIFT_END:
            return f"{who}延长下班 {minutes}"
        if r.kind == LONGER_WORKING:
            return f"{who}的工作时长增加 {minutes}"
        if r.kind == LATER_LUNCH:
            return f"{who}的午休推迟 {minutes}"
        return f"有上门晚于时间窗 {minutes}"


def _insertions(e: Explanation, words: _Words) -> list[dict[str, Any]]:
    """Each clerk's best place for the visit (routing.explain), fitting ones first."""
    out = []
    for ins in e.insertions:
        if ins.position is None:
            continue  # pinned to another clerk: no place was tried
        out.append(
            {
                "clerk_id": ins.clerk_id,
                "clerk": words.clerk(ins.clerk_id),
                "position": ins.position,
                "feasible": ins.verified and not ins.binding,
                "verified": ins.verified,
                "changes": [words.change(r) for r in ins.binding],
                "cost": list(ins.cost),
            }
        )
    return sorted(out, key=lambda i: (not i["feasible"], not i["verified"], i["cost"]))


def _skill_name(catalog: Any, skill: str | None) -> str:
    if skill is None:
        return "上门办理"
    found = getattr(catalog, "skills", {}).get(skill)
    return found.name if found else skill


def _md(d: date) -> str:
    return f"{d.month}月{d.day}日（周{'一二三四五六日'[d.weekday()]}）"


# -- figures ------------------------------------------------------------------------------


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
