"""`onetrip courier-cutoff` and `onetrip courier-rotate-key`: the job edge of the courier
package (reads the clock, opens the session, commits)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from scheduler.settings import TZ


def register(sub: Any) -> None:
    cut = sub.add_parser("courier-cutoff", help="batch ready certificates at a cut-off")
    cut.add_argument("--office", default=None, help="dispatch office (default: the depot)")
    cut.add_argument(
        "--at",
        default=None,
        help="cut-off as YYYY-MM-DDTHH:MM in Asia/Shanghai (default: every cut-off of today "
        "that has passed and not run yet)",
    )
    sub.add_parser("courier-rotate-key", help="new verification signing key (old ones verify)")


def run(args: argparse.Namespace) -> int | None:
    """None when the command is not a courier one."""
    if args.command not in ("courier-cutoff", "courier-rotate-key"):
        return None
    from sqlalchemy.exc import IntegrityError

    from scheduler import workdays
    from scheduler.courier import tokens
    from scheduler.courier.cutoff import CutoffConflict, cutoff_key, due_cutoffs, run_cutoff
    from scheduler.courier.settings import CourierSettings
    from scheduler.web import OneTrip, create_app

    app = create_app()
    state: OneTrip = app.extensions["onetrip"]
    settings = CourierSettings.from_mapping(app.config.get("COURIER"))
    now = datetime.now(UTC)
    if args.command == "courier-rotate-key":
        with state.write_session() as session:
            key = tokens.rotate_key(session, state.service.protector, now=now)
            session.commit()
            print(f"signing key {key.kid} now signs; earlier keys still verify")
        return 0
    office = args.office or settings.depot_office
    if args.at:
        moments = [datetime.fromisoformat(args.at).replace(tzinfo=TZ)]
    else:
        calendar = workdays.load(app.config.get("WORKDAYS_FILE") or workdays.COUNTY_FILE)
        moments = due_cutoffs(settings, calendar, office, now)
    for moment in moments:
        with state.write_session() as session:
            try:
                result = run_cutoff(
                    session, office, moment, now, catalog=state.service.catalog, settings=settings
                )
                session.commit()
            except (CutoffConflict, IntegrityError):
                # Another run saved this cut-off first, or certificates changed meanwhile:
                # nothing of this run is kept; the next call reports what was saved.
                session.rollback()
                print(f"{cutoff_key(office, moment)}: not saved (concurrent change); run again")
                return 1
        word = "already run" if result.already_run else "done"
        print(
            f"{result.key}: {word}; {result.runs} run(s), {result.ems} EMS batch(es), "
            f"{result.certificates} certificate(s); {len(result.left_ready)} left ready"
        )
    return 0
