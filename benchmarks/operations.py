"""Operations: two weeks of seeded 庆元 bookings through the real booking service, the
nightly plan of each day, and a re-plan after a clerk is marked absent.

(1) per working day: bookings accepted, served, unassigned (with reasons), travel hours,
plan seconds — the promise is 0 accepted bookings unassigned on normal days, and a plan
under 10 s for a 60-visit day; (2) re-plan with one clerk absent: seconds, and how many
visits of the other clerks kept their clerk (target ≥ 80 %, under 15 s).

    python benchmarks/operations.py                 # demo-sized days (4–12 visits)
    python benchmarks/operations.py --per-day 60,60 --clerks 12 --days 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "site"))

from guide.catalog import load  # noqa: E402
from scheduler import db  # noqa: E402
from scheduler.booking import BookingService, ensure_zones  # noqa: E402
from scheduler.models import Clerk  # noqa: E402
from scheduler.planning import service as planning  # noqa: E402
from scheduler.planning.capacity import PlanCapacity  # noqa: E402
from scheduler.planning.demo import load_bookings  # noqa: E402
from scheduler.planning.models import Adjustment, PlanVersion  # noqa: E402
from scheduler.protect import Keyring, Protector  # noqa: E402
from scheduler.settings import QINGYUAN_ZONES, TZ, BookingSettings  # noqa: E402
from scheduler.workdays import WorkCalendar  # noqa: E402

SKILLS = (
    "social-insurance,medical-insurance",
    "household-photo,social-insurance",
    "social-insurance,civil-affairs",
    "disability-assessment,civil-affairs,social-insurance",
    "social-insurance,real-estate",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 12, 7))
    parser.add_argument("--days", type=int, default=10, help="working days")
    parser.add_argument("--clerks", type=int, default=4)
    parser.add_argument("--per-day", default="4,12", help="bookings a day (min,max)")
    parser.add_argument("--seconds", type=float, default=5.0, help="solver time limit")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    lo, hi = (int(x) for x in args.per_day.split(","))

    tmp = tempfile.TemporaryDirectory()
    url = f"sqlite:///{tmp.name}/ops.sqlite3"
    db.upgrade(url)
    engine = db.make_engine(url)
    _, write = db.session_factories(engine)
    catalog = load()
    settings = BookingSettings.from_mapping({"horizon_days": 30})
    # The booking service as the app builds it: the plan-aware capacity rule decides
    # what is accepted (the slot and skill guards), nothing is pre-checked here.
    service = BookingService(
        catalog, settings, Protector(Keyring.generate()), capacity_rule=PlanCapacity(catalog)
    )
    calendar = WorkCalendar()
    days = calendar.working_days_between(args.start, args.start + timedelta(days=40))[: args.days]
    now = datetime.combine(
        args.start - timedelta(days=3), datetime.min.time(), tzinfo=TZ
    ).astimezone(UTC)
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        clerks = [
            Clerk(name=f"办事员{k + 1}", skills=SKILLS[k % len(SKILLS)]) for k in range(args.clerks)
        ]
        s.add_all(clerks)
        s.flush()
        zones = [z.code for z in QINGYUAN_ZONES]
        for n, day in enumerate(days):
            for h, half in enumerate(("am", "pm")):
                for k, c in enumerate(clerks):
                    service.add_shift(s, c.id, zones[(k + n + h) % len(zones)], day, half)
        made = load_bookings(
            s, service, QINGYUAN_ZONES, days, now=now, seed=args.seed, per_day=(lo, hi)
        )
        s.commit()
    params = planning.default_params(args.seconds)
    print(
        f"庆元县 operations, {len(days)} working days from {days[0]}, {args.clerks} clerks, "
        f"{made} bookings, solver limit {args.seconds} s"
    )
    print("| date | accepted | served | unassigned (reasons) | travel h | plan s |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    total_unassigned = 0
    plans = {}
    for day in days:
        with write() as s:
            t0 = time.perf_counter()
            v = planning.plan_day(s, day, catalog=catalog, now=now, params=params, kind="nightly")
            secs = time.perf_counter() - t0
            s.commit()
            figs = json.loads(v.figures_json)
            reasons = Counter(u["reason"] for u in json.loads(v.plan_json)["unassigned"])
        plans[day] = v.id
        total_unassigned += figs["unassigned"]
        why = ", ".join(f"{k} {n}" for k, n in reasons.items()) or "0"
        print(
            f"| {day} | {figs['booked']} | {figs['served']} | {why} "
            f"| {figs['travel_h']} | {secs:.1f} |"
        )
    print(f"\naccepted bookings unassigned on normal days: {total_unassigned}")

    # (2) the busiest day: mark the clerk with the most visits absent and re-plan.
    busiest = max(days, key=lambda d: json.loads(_version(write, plans[d]).figures_json)["served"])
    before = _where(_version(write, plans[busiest]).plan_json)
    counts = Counter(before.values())
    absent = counts.most_common(1)[0][0]
    with write() as s:
        s.add(
            Adjustment(
                date=busiest,
                kind="absent",
                clerk_id=int(absent),
                created_at=now.replace(tzinfo=None),
            )
        )
        s.commit()
        t0 = time.perf_counter()
        v = planning.plan_day(s, busiest, catalog=catalog, now=now, params=params, kind="replan")
        secs = time.perf_counter() - t0
        s.commit()
        after = _where(v.plan_json)
        figs = json.loads(v.figures_json)
    others = [vid for vid, c in before.items() if c != absent]
    kept = sum(1 for vid in others if after.get(vid) == before[vid])
    print(
        f"\nre-plan {busiest} with clerk {absent} absent "
        f"({counts[absent]} of their visits to move):"
    )
    print(
        f"  seconds {secs:.1f}; unaffected visits keeping their clerk {kept}/{len(others)} "
        f"({100 * kept / max(1, len(others)):.0f} %); served {figs['served']}/{figs['booked']}"
    )
    engine.dispose()
    tmp.cleanup()
    return 0


def _version(write: Any, vid: int) -> PlanVersion:
    with write() as s:
        v: PlanVersion | None = s.get(PlanVersion, vid)
        assert v is not None
        return v


def _where(plan_json: str) -> dict[str, str]:
    data = json.loads(plan_json)
    return {st[0]: r["clerk_id"] for r in data["routes"] for st in r["stops"]}


if __name__ == "__main__":
    sys.exit(main())
