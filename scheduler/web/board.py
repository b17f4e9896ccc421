"""Drawing a plan for the dispatcher: an SVG map (gazetteer points, no outside tiles) and a
timeline per clerk. Pure functions from plan data to SVG-ready shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from routing.geo import Datum, LatLon, from_wgs84

COLOURS = ("#2e5aa8", "#c2410c", "#15803d", "#9333ea", "#b91c1c", "#0e7490", "#a16207", "#be185d")
MAP_W, MAP_H, PAD = 360, 300, 18
DAY_FROM, DAY_TO = 8 * 3600, 18 * 3600


def colour(k: int) -> str:
    return COLOURS[k % len(COLOURS)]


@dataclass(frozen=True, slots=True)
class Projection:
    """Equirectangular projection of GCJ-02 points into the map's box (north up)."""

    lat0: float
    lon0: float
    scale: float
    height: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        x = PAD + (lon - self.lon0) * self.scale * math.cos(math.radians(self.lat0))
        y = self.height - PAD - (lat - self.lat0) * self.scale
        return round(x, 1), round(y, 1)


def projection(points: Sequence[tuple[float, float]]) -> Projection:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    lat0, lon0 = min(lats), min(lons)
    k = math.cos(math.radians(lat0))
    span_x = max((max(lons) - lon0) * k, 1e-6)
    span_y = max(max(lats) - lat0, 1e-6)
    scale = min((MAP_W - 2 * PAD) / span_x, (MAP_H - 2 * PAD) / span_y)
    return Projection(lat0, lon0, scale, MAP_H)


def hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (monotone chain) of screen points, for the county's outline."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def gcj(lat: float, lon: float) -> tuple[float, float]:
    p = from_wgs84(LatLon(lat, lon), Datum.GCJ02)
    return p.lat, p.lon


def county_base(
    townships: Sequence[Any], points: Sequence[tuple[float, float]]
) -> tuple[Projection, list[tuple[str, float, float]], str]:
    """The map's ground: a projection fitting the townships and `points` (GCJ-02), the
    township dots and names, and the county's outline (their hull, grown a little)."""
    proj = projection([(t.lat, t.lon) for t in townships] + list(points))
    town_xy = [(t.name, *proj.xy(t.lat, t.lon)) for t in townships]
    outline = hull([(x, y) for _, x, y in town_xy])
    # Grow the hull a little around its centre so edge townships sit inside the outline.
    if outline:
        cx = sum(p[0] for p in outline) / len(outline)
        cy = sum(p[1] for p in outline) / len(outline)
        outline = [
            (round(cx + (x - cx) * 1.12, 1), round(cy + (y - cy) * 1.12, 1)) for x, y in outline
        ]
    return proj, town_xy, " ".join(f"{x},{y}" for x, y in outline)


def draw_map(
    townships: Sequence[Any], problem: dict[str, Any], plan: dict[str, Any], clerk_order: list[str]
) -> dict[str, Any]:
    """Shapes of the map: the outline, township dots and names, each route as a polyline
    with numbered stops, the unassigned visits as hollow marks."""
    visits = {v["id"]: gcj(v["lat"], v["lon"]) for v in problem["visits"]}
    depot = gcj(*problem["clerks"][0]["start"]) if problem["clerks"] else None
    proj, town_xy, outline = county_base(townships, list(visits.values()))
    routes = []
    for r in plan["routes"]:
        k = clerk_order.index(r["clerk_id"]) if r["clerk_id"] in clerk_order else 0
        pts = []
        if depot:
            pts.append(proj.xy(*depot))
        stops = []
        for n, s in enumerate(r["stops"], 1):
            x, y = proj.xy(*visits[s[0]])
            pts.append((x, y))
            stops.append({"n": n, "x": x, "y": y, "visit_id": s[0]})
        if depot:
            pts.append(proj.xy(*depot))
        routes.append(
            {
                "clerk_id": r["clerk_id"],
                "colour": colour(k),
                "points": " ".join(f"{x},{y}" for x, y in pts),
                "stops": stops,
            }
        )
    unassigned = [
        {"visit_id": u["visit_id"], "xy": proj.xy(*visits[u["visit_id"]])}
        for u in plan["unassigned"]
        if u["visit_id"] in visits
    ]
    return {
        "w": MAP_W,
        "h": MAP_H,
        "outline": outline,
        "towns": town_xy,
        "depot": proj.xy(*depot) if depot else None,
        "routes": routes,
        "pickups": [],
        "unassigned": unassigned,
    }


def draw_run(
    townships: Sequence[Any], depot: tuple[float, float], stops: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A courier run on the plans' map: from the depot through its pickups (squares) and
    numbered deliveries and back. `depot` and each stop's `lat`/`lon` are GCJ-02."""
    points = [depot] + [(s["lat"], s["lon"]) for s in stops]
    proj, town_xy, outline = county_base(townships, points)
    line = [proj.xy(*depot)]
    delivered: list[dict[str, Any]] = []
    pickups: list[tuple[float, float]] = []
    for s in stops:
        x, y = proj.xy(s["lat"], s["lon"])
        line.append((x, y))
        if s.get("kind") == "pickup":
            pickups.append((x, y))
        else:
            delivered.append({"n": len(delivered) + 1, "x": x, "y": y})
    line.append(proj.xy(*depot))
    route = {"colour": colour(0), "points": " ".join(f"{x},{y}" for x, y in line)}
    return {
        "w": MAP_W,
        "h": MAP_H,
        "outline": outline,
        "towns": town_xy,
        "depot": proj.xy(*depot),
        "routes": [route | {"stops": delivered}],
        "pickups": pickups,
        "unassigned": [],
    }


def x_of(t_s: int, width: float) -> float:
    return round((min(max(t_s, DAY_FROM), DAY_TO) - DAY_FROM) / (DAY_TO - DAY_FROM) * width, 1)


def timeline(
    plan: dict[str, Any], problem: dict[str, Any], width: float = 340
) -> list[dict[str, Any]]:
    """Per clerk: segments (travel, wait, service, lunch) on one 08:00–18:00 axis."""
    service = {v["id"]: v["service_s"] for v in problem["visits"]}
    rows = []
    for r in plan["routes"]:
        segs = []
        t = r["start_s"]
        lunch = r["lunch"]
        for n, s in enumerate(r["stops"]):
            vid, arrival, start, departure, travel = s[0], s[1], s[2], s[3], s[4]
            if lunch and lunch[2] == n:
                segs.append(("lunch", lunch[0], lunch[0] + lunch[1]))
            segs.append(("travel", arrival - travel, arrival))
            if start > arrival:
                segs.append(("wait", arrival, start))
            segs.append(("service", start, start + service.get(vid, departure - start)))
            t = departure
        if lunch and lunch[2] == len(r["stops"]):
            segs.append(("lunch", lunch[0], lunch[0] + lunch[1]))
        segs.append(("travel", r["end_s"] - r["end_travel_s"], r["end_s"]))
        rows.append(
            {
                "clerk_id": r["clerk_id"],
                "segments": [
                    {
                        "kind": kind,
                        "x": x_of(a, width),
                        "w": max(0.8, x_of(b, width) - x_of(a, width)),
                    }
                    for kind, a, b in segs
                    if b > a
                ],
                "start": t,
            }
        )
    return rows


def hours_axis(width: float = 340) -> list[tuple[float, str]]:
    return [(x_of(h * 3600, width), f"{h}") for h in range(8, 19, 2)]
