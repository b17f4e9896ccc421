"""Home-visit days in 庆元县: our solver and VROOM side by side.

A seeded generator spreads visits over the 19 township-level units of 庆元县 (gazetteer
centres, GCJ-02, jittered a few km and converted to WGS-84), with half-day windows
(service begins 08:30–12:00 or 13:30–17:00), 10–40 minute visits, three skills, some
urgent visits and some that may be deferred; one clerk per 20 visits, based at the county
service centre, shift 08:00–17:30 with a 30-minute lunch starting 11:30–13:30. Travel is
``routing.travel.GeodesicTravelModel`` (great circle × detour factor, mountain roads).

Solvers: ``onetrip`` is ``routing.auto.AutoSolver`` as the scheduler uses it (OR-Tools and
VROOM, one process each, best plan kept); ``onetrip-ortools`` our OR-Tools engine alone on
both cores (two searches); ``vroom`` the VROOM engine alone on two threads.

    python benchmarks/home_visits.py                     # 20, 60, 200, 1000 visits
    python benchmarks/home_visits.py --sizes 60 --seed 7 --solvers onetrip
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from routing._ortools import OrToolsSolver
from routing.auto import AutoSolver
from routing.check import check_plan
from routing.geo import LatLon, gcj02_to_wgs84
from routing.model import Break, Clerk, Problem, RoutePlan, TimeWindow, Visit, build_problem
from routing.solver import SolveParams, Solver
from routing.travel import GeodesicTravelModel

ROOT = Path(__file__).resolve().parents[1]
TOWNSHIPS = ROOT / "content" / "gazetteer" / "townships.csv"
H = 3600
SKILLS = ("社保", "残疾评定", "户籍拍照采集")
MORNING = TimeWindow(8 * H + 1800, 12 * H)
AFTERNOON = TimeWindow(13 * H + 1800, 17 * H)
VISITS_PER_CLERK = 20


def townships() -> list[tuple[str, LatLon]]:
    with TOWNSHIPS.open(encoding="utf-8") as f:
        return [
            (row["name"], LatLon(float(row["lat"]), float(row["lon"])))
            for row in csv.DictReader(f)
            if row["county"] == "庆元县" and row["level"] != "county"
        ]


def day(n_visits: int, seed: int) -> tuple[list[Visit], list[Clerk]]:
    """A reproducible day: ``n_visits`` bookings and ``n_visits / 20`` clerks."""
    rng = random.Random(seed * 100_003 + n_visits)
    units = townships()
    # The three 街道 of the county town hold more residents: weight them up.
    weights = [4 if name.endswith("街道") else 1 for name, _ in units]
    centre = gcj02_to_wgs84(LatLon(27.61922, 119.06259))
    visits = []
    for i in range(n_visits):
        _, gcj = rng.choices(units, weights)[0]
        spot = LatLon(gcj.lat + rng.uniform(-0.02, 0.02), gcj.lon + rng.uniform(-0.02, 0.02))
        visits.append(
            Visit(
                id=f"v{i:04d}",
                location=gcj02_to_wgs84(spot),
                service_s=rng.choice((600, 1200, 1800, 2400)),
                windows=(rng.choice((MORNING, AFTERNOON)),),
                skill=rng.choices((None, *SKILLS), (2, 4, 2, 2))[0],
                priority=2 if rng.random() < 0.1 else 0,
                deferrable=rng.random() < 0.3,
            )
        )
    clerks = []
    for k in range(max(1, n_visits // VISITS_PER_CLERK)):
        clerks.append(
            Clerk(
                id=f"c{k:02d}",
                start=centre,
                end=centre,
                shift_start_s=8 * H,
                shift_end_s=17 * H + 1800,
                skills=frozenset(
                    {"社保", SKILLS[1 + k % 2]} | ({SKILLS[1]} if k % 3 == 0 else set())
                ),
                lunch=Break(1800, 11 * H + 1800, 14 * H),
            )
        )
    return visits, clerks


def lateness_s(problem: Problem, plan: RoutePlan) -> int:
    """Seconds by which services begin after their window closes (must be 0)."""
    by_id = {visit.id: visit for visit in problem.visits}
    late = 0
    for route in plan.routes:
        for stop in route.stops:
            ends = [w.end_s for w in by_id[stop.visit_id].windows if w.start_s <= stop.start_s]
            late += max(0, stop.start_s - max(ends)) if ends else 0
    return late


def seconds_for(n_visits: int) -> float:
    """The time budget per size: 60 visits in under 5 s, 1,000 in under 120 s."""
    return {20: 2.0, 60: 4.0, 200: 15.0}.get(n_visits, 100.0)


def solvers(names: Sequence[str]) -> dict[str, Solver]:
    out: dict[str, Solver] = {}
    for name in names:
        if name == "onetrip":
            out[name] = AutoSolver()
        elif name == "onetrip-ortools":
            out[name] = OrToolsSolver()
        elif name == "vroom":
            from routing._vroom import VroomSolver

            out[name] = VroomSolver(threads=2)
        else:
            raise SystemExit(f"unknown solver {name}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,60,200,1000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--solvers", default="onetrip,onetrip-ortools,vroom")
    parser.add_argument("--workers", type=int, default=2, help="processes for onetrip-ortools")
    args = parser.parse_args(argv)

    travel = GeodesicTravelModel(ellipsoidal=False)
    engines = solvers(args.solvers.split(","))
    print(f"庆元县 home visits, seed {args.seed}")
    print(
        "| visits | clerks | solver | limit s | served | servable alone | urgent served | "
        "travel h | waiting h | lateness s | solve s | check |"
    )
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for size in (int(s) for s in args.sizes.split(",")):
        visits, clerks = day(size, args.seed)
        problem = build_problem(visits, clerks, travel)
        limit = seconds_for(size)
        for name, engine in engines.items():
            params = SolveParams(
                time_limit_s=limit,
                branch_limit=None,
                workers=args.workers if name == "onetrip-ortools" else 1,
            )
            started = time.perf_counter()
            plan = engine.solve(problem, params)
            elapsed = time.perf_counter() - started
            violations = check_plan(problem, plan)
            urgent = {v.id for v in visits if v.priority > 0}
            served_urgent = sum(1 for r in plan.routes for s in r.stops if s.visit_id in urgent)
            servable = size - sum(
                1
                for u in plan.unassigned
                if u.reason.value in ("no_skill", "outside_shifts", "unreachable_in_window")
            )
            print(
                f"| {size} | {len(clerks)} | {name} | {limit:g} | {plan.served} | {servable} | "
                f"{served_urgent}/{len(urgent)} | {plan.travel_s / H:.1f} | "
                f"{plan.waiting_s / H:.1f} | {lateness_s(problem, plan)} | {elapsed:.1f} | "
                f"{'clean' if not violations else f'{len(violations)} violations'} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
