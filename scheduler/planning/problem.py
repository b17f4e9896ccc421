"""From a date's bookings and clerks' days to a routing problem, and a stored version's
problem and plan to and from JSON (a version keeps exactly what it planned).

Times are seconds from midnight, Asia/Shanghai. A visit's skill names what the clerk must
be able to do *and* where and when they are out (``skill@zone/half``), so the routing
library needs no notion of zones or half-days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from routing.travel import GeodesicTravelModel, TravelModel
from scheduler.booking.capacity import service_s
from scheduler.planning import bookings as bk

H = 3600
# The visiting day (seconds from midnight, Shanghai): shifts, service-begin windows of
# the booked half-day, and the lunch break of a clerk out both half-days.
SHIFT = {"am": (8 * H + 1800, 12 * H), "pm": (13 * H + 1800, 17 * H + 1800)}
BEGIN = {"am": (8 * H + 1800, 11 * H + 1800), "pm": (13 * H + 1800, 17 * H)}
LUNCH = Break(3600, 11 * H + 1800, 14 * H)
ANY_SKILL = "any"


def default_travel() -> TravelModel:
    return GeodesicTravelModel(ellipsoidal=False)


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
