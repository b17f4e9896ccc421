"""How many local-search moves the OR-Tools engine evaluates, per lunch model.

One search (one worker, first solution as the engine's default) on days of
``benchmarks/home_visits.py``, once with the lunch as time on the arc that crosses it
(``routing._ortools.SPLIT_LUNCH = True``, the default) and once with OR-Tools' break
intervals, each in a child process with ``log_search`` on. The table gives OR-Tools' own
counters from its last log line: neighbours evaluated, accepted, and the best objective
found (OR-Tools' internal cost, the same scale for both models).

    python benchmarks/ortools_neighbours.py                  # 60/1 and 200/1
    python benchmarks/ortools_neighbours.py --days 30/1,60/2
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence

from ortools.constraint_solver import pywrapcp

import routing._ortools as engine
from routing import SolveParams, solve
from routing.model import build_problem
from routing.travel import GeodesicTravelModel

# OR-Tools' search log: "Solution #N (objective, ...)" for each solution found, and
# cumulative counters "neighbors = a, filtered neighbors = b, accepted neighbors = c" on
# those lines and on the last one ("Finished search tree", spelt "neigbors" there).
SOLUTION = re.compile(r"Solution #\d+ \((\d+),")
COUNTERS = re.compile(r"neighbors = (\d+), filtered neighbors = \d+, accepted neig?h?bors = (\d+)")
MODELS = {"split": "split lunch", "interval": "break interval"}


def child(size: int, seed: int, model: str) -> None:
    """Solve one day with the given lunch model; OR-Tools logs to this process's stderr."""
    import home_visits

    engine.SPLIT_LUNCH = model == "split"
    default = pywrapcp.DefaultRoutingSearchParameters

    def logged() -> object:
        search = default()
        search.log_search = True
        return search

    engine.pywrapcp.DefaultRoutingSearchParameters = logged  # type: ignore[attr-defined]
    visits, clerks = home_visits.day(size, seed)
    problem = build_problem(visits, clerks, GeodesicTravelModel(ellipsoidal=False))
    params = SolveParams(time_limit_s=home_visits.seconds_for(size), workers=1)
    solve(problem, params, solver=engine.OrToolsSolver())


def measure(size: int, seed: int, model: str) -> tuple[int, int, int]:
    """(neighbours, accepted, best objective) of one search, read from OR-Tools' log."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", f"{size}/{seed}/{model}"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    best = None
    neighbours = accepted = 0
    for line in out.splitlines():
        solution = SOLUTION.search(line)
        if solution:
            objective = int(solution.group(1))
            best = objective if best is None else min(best, objective)
        counters = COUNTERS.search(line)
        if counters:
            neighbours, accepted = int(counters.group(1)), int(counters.group(2))
    if best is None:
        raise SystemExit(f"no search log for {size}/{seed} ({model}):\n{out[-2000:]}")
    return neighbours, accepted, best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="60/1,200/1", help="size/seed, comma-separated")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, seed, model = args.child.split("/")
        child(int(size), int(seed), model)
        return 0

    import home_visits

    print("| day | lunch model | neighbours | accepted | best objective |")
    print("| --- | --- | ---: | ---: | ---: |")
    ratios = []
    for spec in args.days.split(","):
        size, seed = (int(part) for part in spec.split("/"))
        limit = home_visits.seconds_for(size)
        counts = {}
        for model in ("interval", "split"):
            counts[model] = measure(size, seed, model)
            neighbours, accepted, best = counts[model]
            print(
                f"| {size}/{seed}, {limit:g} s | {MODELS[model]} | {neighbours:,} | "
                f"{accepted:,} | {best:,} |",
                flush=True,
            )
        ratios.append(f"{counts['split'][0] / max(1, counts['interval'][0]):.1f}x at {spec}")
    print(f"\nNeighbours with the split lunch against break intervals: {', '.join(ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
