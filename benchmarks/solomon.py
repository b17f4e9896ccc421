"""Solomon VRPTW benchmark: our solver against PyVRP, VROOM and textbook OR-Tools.

Every solver gets the same wall-time limit per instance; every route set is scored here in
double precision (Euclidean distance, travel time = distance) and compared with the
``distance_fullprec`` best-known distance of ``bks.csv``.

    python benchmarks/solomon.py --instances R101,RC105 --seconds 10
    python benchmarks/solomon.py --json > /tmp/solomon.jsonl

The data directory defaults to ``../shared/benchmarks/solomon`` next to the checkout;
override it with ``--data DIR`` or the ``ONETRIP_SOLOMON_DIR`` environment variable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from routing._ortools import OrToolsSolver
from routing.auto import AutoSolver
from routing.solomon import DISTANCE_ONLY, Instance, read_instance, score, to_problem
from routing.solver import SolveParams

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "benchmarks" / "solomon"
SCALE = 1000
SOLVERS = ("onetrip", "onetrip-ortools", "pyvrp", "vroom", "ortools-textbook")

Routes = list[list[int]]


def onetrip_params(seconds: float) -> SolveParams:
    """The settings the benchmark runs our solver with (two searches on the two cores).

    The objective is Solomon's, distance only (``DISTANCE_ONLY``: no working-time, waiting
    or balance term), as in the textbook run. The starts: measured one search each at 10 s
    on eight hard instances (RC208, R211, RC207, RC206, R205, C204, C103, R110), mean gap
    ``PATH_CHEAPEST_ARC`` +5.95 %, ``LOCAL_CHEAPEST_INSERTION`` +7.62 %, ``SAVINGS``
    +7.89 %, ``PARALLEL_CHEAPEST_INSERTION`` +12.01 % (docs/benchmarks.md, 2026-12-03);
    the best of two per instance: PCA with LCI (the engine's default start) +4.43 %, PCA
    with SAVINGS +4.56 %, PCI with SAVINGS (the earlier pair) +6.59 %.
    """
    return SolveParams(
        weights=DISTANCE_ONLY,
        time_limit_s=seconds,
        branch_limit=None,
        workers=2,
        first_solutions=("PATH_CHEAPEST_ARC", "LOCAL_CHEAPEST_INSERTION"),
    )


def run_onetrip(instance: Instance, path: Path, seconds: float) -> Routes:
    """The library as a caller gets it: AutoSolver picks the engine (PyVRP for plain VRPTW)."""
    plan = AutoSolver().solve(to_problem(instance, SCALE), onetrip_params(seconds))
    return [[int(stop.visit_id) for stop in route.stops] for route in plan.routes]


def run_onetrip_ortools(instance: Instance, path: Path, seconds: float) -> Routes:
    """Our tuned OR-Tools engine forced, as it plans every day with breaks and skills."""
    plan = OrToolsSolver().solve(to_problem(instance, SCALE), onetrip_params(seconds))
    return [[int(stop.visit_id) for stop in route.stops] for route in plan.routes]


def run_textbook(instance: Instance, path: Path, seconds: float) -> Routes:
    """The OR-Tools VRPTW recipe as documented: PATH_CHEAPEST_ARC, then GLS, one search."""
    params = SolveParams(
        weights=DISTANCE_ONLY,
        time_limit_s=seconds,
        branch_limit=None,
        workers=1,
        first_solutions=("PATH_CHEAPEST_ARC",),
    )
    plan = OrToolsSolver().solve(to_problem(instance, SCALE), params)
    return [[int(stop.visit_id) for stop in route.stops] for route in plan.routes]


def run_pyvrp(instance: Instance, path: Path, seconds: float) -> Routes:
    import numpy as np
    import pyvrp
    from pyvrp.stop import MaxRuntime

    def ceil_scaled(values: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = np.ceil(np.asarray(values) * SCALE).astype(np.int64)
        return scaled

    data = pyvrp.read(path, round_func=ceil_scaled)
    result = pyvrp.solve(data, stop=MaxRuntime(seconds), seed=1, display=False)
    # A client activity's idx counts clients from 0: client idx is Solomon customer idx + 1.
    return [[a.idx + 1 for a in route if a.is_client()] for route in result.best.routes()]


def run_vroom(instance: Instance, path: Path, seconds: float) -> Routes:
    import math

    import vroom

    n = instance.customers
    problem = vroom.Input()
    durations = [
        [math.ceil(instance.distance(a, b) * SCALE) for b in range(n + 1)] for a in range(n + 1)
    ]
    problem.set_durations_matrix("car", durations)
    ready, due = instance.windows[0]
    for v in range(instance.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                v + 1,
                start=0,
                end=0,
                capacity=[instance.capacity],
                time_window=vroom.TimeWindow(ready * SCALE, due * SCALE),
            )
        )
    for c in range(1, n + 1):
        a, b = instance.windows[c]
        problem.add_job(
            vroom.Job(
                c,
                location=c,
                default_service=instance.service[c] * SCALE,
                delivery=[instance.demands[c]],
                time_windows=[vroom.TimeWindow(a * SCALE, b * SCALE)],
            )
        )
    solution = problem.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=seconds))
    routes: dict[int, list[int]] = {}
    for row in solution.routes.itertuples():
        if row.type == "job":
            routes.setdefault(int(row.vehicle_id), []).append(int(row.id))
    return list(routes.values())


RUNNERS: dict[str, Callable[[Instance, Path, float], Routes]] = {
    "onetrip": run_onetrip,
    "onetrip-ortools": run_onetrip_ortools,
    "pyvrp": run_pyvrp,
    "vroom": run_vroom,
    "ortools-textbook": run_textbook,
}


def read_bks(data: Path) -> dict[str, float]:
    with (data / "bks.csv").open() as f:
        return {
            row["instance"]: float(row["distance"])
            for row in csv.DictReader(f)
            if row["objective"] == "distance_fullprec"
        }


def data_dir(flag: str | None) -> Path:
    return Path(flag or os.environ.get("ONETRIP_SOLOMON_DIR") or DEFAULT_DATA)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", help="comma-separated names (default: all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per solve")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated")
    parser.add_argument("--data", help="directory of *.vrp and bks.csv")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    data = data_dir(args.data)
    bks = read_bks(data)
    names = args.instances.split(",") if args.instances else sorted(bks)
    solvers = args.solvers.split(",")
    unknown = [s for s in solvers if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown solvers {unknown}; choose from {', '.join(SOLVERS)}")

    results: dict[str, dict[str, tuple[float, bool, int]]] = {s: {} for s in solvers}
    if not args.json:
        print(f"Solomon VRPTW, {args.seconds:g} s per solve; gap % to distance_fullprec BKS")
        print("| instance | BKS | " + " | ".join(solvers) + " |")
        print("| --- | ---: | " + " | ".join("---:" for _ in solvers) + " |")
    for name in names:
        path = data / f"{name}.vrp"
        instance = read_instance(path)
        cells = []
        for solver in solvers:
            started = time.perf_counter()
            routes = RUNNERS[solver](instance, path, args.seconds)
            elapsed = time.perf_counter() - started
            result = score(instance, routes)
            gap = 100.0 * (result.distance - bks[name]) / bks[name]
            results[solver][name] = (gap, result.feasible, result.vehicles)
            if args.json:
                print(
                    json.dumps(
                        {
                            "instance": name,
                            "solver": solver,
                            "seconds": round(elapsed, 2),
                            "distance": round(result.distance, 4),
                            "vehicles": result.vehicles,
                            "feasible": result.feasible,
                            "gap_pct": round(gap, 3),
                            "routes": routes,
                        }
                    ),
                    flush=True,
                )
            else:
                cells.append(f"{gap:+.2f}" if result.feasible else f"infeasible ({gap:+.2f})")
        if not args.json:
            print(f"| {name} | {bks[name]:.2f} | " + " | ".join(cells) + " |", flush=True)

    if not args.json:
        print()
        print("| solver | feasible | mean gap % | worst gap % |")
        print("| --- | ---: | ---: | ---: |")
        for solver in solvers:
            rows = list(results[solver].values())
            ok = [gap for gap, feasible, _ in rows if feasible]
            mean = f"{statistics.fmean(ok):+.2f}" if ok else "-"
            worst = f"{max(ok):+.2f}" if ok else "-"
            print(f"| {solver} | {len(ok)}/{len(rows)} | {mean} | {worst} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
