"""The operations commands of ``onetrip``: ``scheduler`` and ``plan`` (see scheduler.cli)."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from scheduler import jobs, workdays
from scheduler.courier.settings import CourierSettings


def add_commands(sub: Any) -> None:
    sched = sub.add_parser(
        "scheduler", help="run the scheduler process (nightly plans, re-plans, notices)"
    )
    sched.add_argument("--once", choices=sorted(jobs.JOBS), help="run one job now and exit")
    sched.add_argument("--now", help="the clock for --once (ISO, e.g. 2026-12-02T17:31+08:00)")
    plan = sub.add_parser("plan", help="plan a date now and print the plan's figures")
    plan.add_argument("--date", type=date.fromisoformat, required=True)
    plan.add_argument("--seconds", type=float, default=5.0, help="solver time limit")
    plan.add_argument("--dry-run", action="store_true", help="print only; store no version")


def runtime(app: Any, **overrides: Any) -> jobs.Runtime:
    """The scheduler's runtime from the app's configuration (database, catalog, secret)."""
    state = app.extensions["onetrip"]
    return jobs.Runtime(
        read_session=state.read_session,
        write_session=state.write_session,
        service=state.service,
        calendar=workdays.load(app.config.get("WORKDAYS_FILE") or workdays.COUNTY_FILE),
        courier=CourierSettings.from_mapping(app.config.get("COURIER")),
        **overrides,
    )


def run(args: argparse.Namespace) -> int:
    from scheduler.cli import configure_logging
    from scheduler.web import create_app

    configure_logging()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = create_app()
    rt = runtime(app)
    if args.command == "plan":
        return _plan(rt, args)
    if args.once:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        result = jobs.JOBS[args.once](rt, now=now)
        print(f"{args.once}: {result}")
        return 0
    jobs.run_forever(rt)
    return 0


def _plan(rt: jobs.Runtime, args: argparse.Namespace) -> int:
    from scheduler.planning import service as planning

    now = datetime.now(UTC)
    params = planning.default_params(args.seconds)
    with rt.write_session() as s:
        computed = planning.compute(s, args.date, catalog=rt.catalog, params=params)
        figs = computed.figures
        print(f"plan for {args.date} ({'dry run' if args.dry_run else 'stored'})")
        print(f"  visits served / booked : {figs['served']} / {figs['booked']}")
        print(f"  urgent served          : {figs['urgent_served']} / {figs['urgent']}")
        print(f"  travel                 : {figs['travel_km']} km, {figs['travel_h']} h")
        print(f"  lateness               : {figs['lateness_s']} s")
        print(f"  solve                  : {computed.solve_ms} ms ({computed.plan.engine})")
        for c in figs["clerks"]:
            print(
                f"  clerk {c['clerk_id']:>3}: {c['visits']} visits, {c['working_min']} min, "
                f"leave {c['leave']} first {c['first']} last {c['last']} back {c['back']}"
            )
        for u in computed.explained:
            message = json.dumps(u["message"], ensure_ascii=False)
            print(f"  unassigned booking {u['visit_id']}: {u['reason']} {message}")
        if not args.dry_run:
            v = planning.store(s, computed, now=now, kind="manual")
            s.commit()
            print(f"  stored as version {v.version}")
    return 0
