"""`onetrip` console command: serve the app (and the built guide), migrate, demo data."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from scheduler.courier import commands as courier_commands
from scheduler.settings import TZ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onetrip", description="OneTrip operations app")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve site + API + staff pages on one origin")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="fresh temporary SQLite with demo data")
    serve.add_argument("--site-dir", help="built guide to serve at / (default build/site)")
    sub.add_parser("migrate", help="alembic upgrade head on DATABASE_URL, then load zones")
    clerk = sub.add_parser("add-clerk", help="add a visiting clerk")
    clerk.add_argument("name")
    clerk.add_argument("--skills", default="", help="comma-separated skill ids")
    shift = sub.add_parser("add-shift", help="put a clerk on home visits in a zone")
    shift.add_argument("clerk_id", type=int)
    shift.add_argument("zone")
    shift.add_argument("date", type=date.fromisoformat)
    shift.add_argument("half_day", choices=["am", "pm"])
    staff = sub.add_parser("add-staff", help="add a staff login (password read from stdin)")
    staff.add_argument("username")
    staff.add_argument("name")
    staff.add_argument("role", choices=["window", "clerk", "admin", "dispatcher"])
    staff.add_argument("--clerk-id", type=int)
    purge = sub.add_parser("purge", help="erase personal data of long-finished bookings")
    purge.add_argument("--days", type=int, default=180, help="finished more than N days ago")
    courier_commands.register(sub)
    args = parser.parse_args(argv)

    if args.command == "serve":
        return _serve(args)
    done = courier_commands.run(args)
    if done is not None:
        return done
    return _admin(args)


def _admin(args: argparse.Namespace) -> int:
    from scheduler.booking import add_shift, ensure_zones, purge_finished
    from scheduler.db import upgrade
    from scheduler.demo import add_staff
    from scheduler.models import Clerk, Zone
    from scheduler.settings import QINGYUAN_ZONES
    from scheduler.web import OneTrip, create_app

    if args.command == "migrate":
        upgrade(create_app().config["DATABASE_URL"])
    app = create_app()
    state: OneTrip = app.extensions["onetrip"]
    with state.write_session() as session:
        if args.command == "migrate":
            if state.settings.zones or session.get(Zone, QINGYUAN_ZONES[0].code) is None:
                ensure_zones(session, state.settings.zones or QINGYUAN_ZONES)
            print("database upgraded; zones loaded")
        elif args.command == "add-clerk":
            c = Clerk(name=args.name, skills=args.skills)
            session.add(c)
            session.flush()
            print(f"clerk {c.id}: {c.name}")
        elif args.command == "add-shift":
            add_shift(
                session,
                args.clerk_id,
                args.zone,
                args.date,
                args.half_day,
                state.settings.visits_per_clerk_half_day,
            )
            print(f"shift added: clerk {args.clerk_id}, {args.zone}, {args.date} {args.half_day}")
        elif args.command == "purge":
            n = purge_finished(session, now=datetime.now(UTC), older_than_days=args.days)
            print(f"personal data erased from {n} booking(s)")
        elif args.command == "add-staff":
            password = sys.stdin.readline().rstrip("\n")
            if len(password) < 10:
                print("password must have at least 10 characters", file=sys.stderr)
                return 2
            add_staff(session, args.username, password, args.role, args.name, args.clerk_id)
            print(f"staff {args.username} ({args.role}) added")
        session.commit()
    return 0


class WithoutQueryStrings(logging.Filter):
    """Drops query strings from the development server's request lines: a look-up URL
    carries a phone suffix (`?phone_last4=`), which must not reach a log."""

    _QUERY = re.compile(r"(\s/[^\s?\"]*)\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = self._QUERY.sub(r"\1?…", text)
        if cleaned != text:
            record.msg, record.args = cleaned, None
        return True


def configure_logging() -> None:
    """INFO for the app's own lines (they carry references and codes, never personal
    data); the development server's request lines without their query strings."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").addFilter(WithoutQueryStrings())


def _serve(args: argparse.Namespace) -> int:
    from scheduler.web import create_app

    configure_logging()
    config: dict[str, object] = {"MIGRATE_ON_START": True}
    if args.site_dir:
        config["SITE_DIR"] = str(Path(args.site_dir).resolve())
    tmp = None
    if args.demo:
        tmp = tempfile.TemporaryDirectory(prefix="onetrip-demo-")
        config["DATABASE_URL"] = f"sqlite:///{tmp.name}/demo.sqlite3"
        config.setdefault("SECRET_KEY", os.urandom(32).hex())
    app = create_app(config)
    if args.demo:
        _load_demo(app)
    site = Path(app.config["SITE_DIR"])
    if not (site / "index.html").exists():
        print(f"note: no built guide at {site} (run `make site`); serving API and staff pages only")
    print(f"OneTrip: http://{args.host}:{args.port}/  (API /api/, staff /staff/)", flush=True)
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _load_demo(app: object) -> None:
    from scheduler.demo import load_demo
    from scheduler.web import OneTrip

    state: OneTrip = app.extensions["onetrip"]  # type: ignore[attr-defined]
    with state.write_session() as session:
        accounts = load_demo(session, state.settings, datetime.now(TZ).date())
        session.commit()
    print("Demo staff accounts (sample data; passwords change every start):")
    for acc in accounts:
        print(f"  {acc.username:<10} {acc.password:<14} {acc.role:<7} {acc.name}")


if __name__ == "__main__":
    sys.exit(main())
