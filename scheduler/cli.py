"""`onetrip` console command: serve the app (and the built guide), migrate, demo data."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

from scheduler.accounts import ROLES
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
    staff.add_argument("role", choices=list(ROLES))
    staff.add_argument("--clerk-id", type=int)
    password = sub.add_parser(
        "set-password", help="set a staff password (stdin); ends the account's logins"
    )
    password.add_argument("username")
    deactivate = sub.add_parser("deactivate-staff", help="disable a staff login and end its logins")
    deactivate.add_argument("username")
    purge = sub.add_parser(
        "purge",
        help="erase personal data of long-finished bookings and deliveries, and old stored answers",
    )
    purge.add_argument(
        "--days", type=int, default=180, help="finished or delivered more than N days ago"
    )
    keys = sub.add_parser("keys", help="data keys: rotate, or re-encrypt stored data")
    keys.add_argument("action", choices=["rotate", "reencrypt"])
    from scheduler import ops_cli

    ops_cli.add_commands(sub)
    courier_commands.register(sub)
    args = parser.parse_args(argv)

    if args.command in ("scheduler", "plan"):
        return ops_cli.run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "keys" and args.action == "rotate":
        return _rotate_keys()
    done = courier_commands.run(args)
    if done is not None:
        return done
    return _admin(args)


def _rotate_keys() -> int:
    """A new current data key in the keyring file; the old ones stay for decrypting."""
    from scheduler.protect import Keyring
    from scheduler.web import create_app

    app = create_app()
    path = Path(app.config.get("DATA_KEYS_FILE") or Path(app.instance_path) / "data_keys.json")
    ring = Keyring.loads(path.read_text(encoding="utf-8")).rotated()
    ring.save(path)
    print(
        f"new current data key {ring.current} in {path}; restart the app, then run "
        "`onetrip keys reencrypt`"
    )
    return 0


def _admin(args: argparse.Namespace) -> int:
    from scheduler import accounts
    from scheduler.booking import ensure_zones, purge_finished, purge_idempotency
    from scheduler.booking.keys import reencrypt
    from scheduler.courier import keys as courier_keys
    from scheduler.courier.retention import purge_delivered
    from scheduler.db import upgrade
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
            state.service.add_shift(session, args.clerk_id, args.zone, args.date, args.half_day)
            print(f"shift added: clerk {args.clerk_id}, {args.zone}, {args.date} {args.half_day}")
        elif args.command == "purge":
            now = datetime.now(UTC)
            n = purge_finished(session, now=now, older_than_days=args.days)
            m = purge_delivered(session, now=now, older_than_days=args.days)
            k = purge_idempotency(session, now=now)
            print(
                f"personal data erased from {n} booking(s) and {m} delivered certificate(s); "
                f"{k} stored answer(s) deleted"
            )
        elif args.command == "keys":
            changed, failed = reencrypt(session, state.protector)
            moved, lost = courier_keys.reencrypt(session, state.protector)
            changed, failed = changed + moved, failed + lost
            print(
                f"{changed} value(s) re-encrypted with key {state.protector.current_key_id}; "
                f"{failed} could not be decrypted (see the log)"
            )
        elif args.command in ("add-staff", "set-password"):
            password = sys.stdin.readline().rstrip("\n")
            if len(password) < accounts.MIN_PASSWORD:
                print(
                    f"password must have at least {accounts.MIN_PASSWORD} characters",
                    file=sys.stderr,
                )
                return 2
            if args.command == "add-staff":
                accounts.add_staff(
                    session, args.username, password, args.role, args.name, args.clerk_id
                )
                print(f"staff {args.username} ({args.role}) added")
            else:
                user = accounts.by_username(session, args.username)
                if user is None:
                    print(f"no staff user {args.username}", file=sys.stderr)
                    return 2
                accounts.set_password(session, user, password, now=datetime.now(UTC))
                print(f"password of {args.username} changed; its logins ended")
        elif args.command == "deactivate-staff":
            user = accounts.by_username(session, args.username)
            if user is None:
                print(f"no staff user {args.username}", file=sys.stderr)
                return 2
            accounts.deactivate(session, user, now=datetime.now(UTC))
            print(f"{args.username} deactivated; its logins ended")
        session.commit()
    if args.command == "purge":
        state.limiter.sweep()  # after the commit: on SQLite it needs the writer lock
    return 0


class WithoutQueryStrings(logging.Filter):
    """Drops query strings from the development server's log lines: whatever a client puts
    in a URL (an old client's `?phone_last4=`) must not reach a log. The request target may
    be a path or an absolute URL (`GET http://host/…?… HTTP/1.1`), and Werkzeug logs it
    percent-decoded, so it may hold quotes and any kind of space: everything from the first
    `?` of an argument on is dropped, except the protocol version that ends a request line.
    So is everything from a `?` a client encoded (`%3F`, which Werkzeug leaves encoded) or a
    `;` (path parameters) on; a `;` inside a colour code (`\x1b[1;31m`) is not one."""

    _VERSION = re.compile(r" HTTP/\d(?:\.\d)?(?:\x1b\[[0-9;]*m)?\Z")
    _QUERY = re.compile(r"\?|%3f|;(?![0-9;]*m)", re.IGNORECASE)

    @classmethod
    def _cut(cls, text: str) -> str:
        mark = cls._QUERY.search(text)
        if mark is None:
            return text
        version = cls._VERSION.search(text, mark.end())
        return f"{text[: mark.start()]}?…{version.group(0) if version else ''}"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                self._cut(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif not record.args and isinstance(record.msg, str):
            record.msg = self._cut(record.msg)
        return True


def configure_logging() -> None:
    """INFO for the app's own lines (they carry references and codes, never personal
    data); the development server's request lines without their query strings."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").addFilter(WithoutQueryStrings())


def _serve(args: argparse.Namespace) -> int:
    from scheduler.protect import Keyring
    from scheduler.web import create_app, data_dir

    configure_logging()
    config: dict[str, object] = {"MIGRATE_ON_START": True}
    if args.site_dir:
        config["SITE_DIR"] = str(Path(args.site_dir).resolve())
    tmp = None
    scheduler_process = None
    # SIGTERM (a service manager, `kill`) ends the server like Ctrl-C, through the
    # `finally` below, so the demo's temporary database and scheduler child go with it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if args.demo:
            tmp = tempfile.TemporaryDirectory(prefix="onetrip-demo-")
            config["DATA_DIR"] = tmp.name
            config["DATABASE_URL"] = f"sqlite:///{tmp.name}/demo.sqlite3"
            config.setdefault("SECRET_KEY", os.urandom(32).hex())
            config["DATA_KEYS"] = Keyring.generate()
            config["SESSION_COOKIE_SECURE"] = False  # plain http on loopback
        else:
            data_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        app = create_app(config)
        if args.demo:
            _load_demo(app)
            scheduler_process = _start_scheduler(app)
        site = Path(app.config["SITE_DIR"])
        if not (site / "index.html").exists():
            print(
                f"note: no built guide at {site} (run `make site`); "
                "serving API and staff pages only"
            )
        print(f"OneTrip: http://{args.host}:{args.port}/  (API /api/, staff /staff/)", flush=True)
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        if scheduler_process is not None:
            scheduler_process.terminate()
            scheduler_process.wait(10)
        if tmp is not None:
            tmp.cleanup()
    return 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _start_scheduler(app: object) -> subprocess.Popen[bytes]:
    """The demo's scheduler process (`python -m scheduler`) on the same database, with the
    same data directory, cookie secret and data keys (it decrypts addresses to plan)."""
    from scheduler.protect import Keyring

    config = app.config  # type: ignore[attr-defined]
    keys_file = Path(config["DATA_DIR"]) / "data_keys.json"
    ring = config.get("DATA_KEYS")
    if isinstance(ring, Keyring):
        ring.save(keys_file)  # owner-only; goes with the temporary directory
    env = {
        **os.environ,
        "DATABASE_URL": config["DATABASE_URL"],
        "ONETRIP_DATA_DIR": config["DATA_DIR"],
        "ONETRIP_DATA_KEYS_FILE": str(keys_file),
        "ONETRIP_SECRET_KEY": str(config["SECRET_KEY"]),
    }
    proc = subprocess.Popen([sys.executable, "-m", "scheduler"], env=env)
    print(f"Scheduler process started (pid {proc.pid}): nightly plan 17:30, re-plans, notices")
    return proc


def _load_demo(app: object) -> None:
    from scheduler.demo import load_demo
    from scheduler.web import OneTrip

    state: OneTrip = app.extensions["onetrip"]  # type: ignore[attr-defined]
    with state.write_session() as session:
        accounts = load_demo(
            session,
            state.settings,
            datetime.now(TZ).date(),
            capacity_rule=state.service.capacity_rule,
        )
        from scheduler.planning.demo import load_operations

        summary = load_operations(session, state, datetime.now(UTC))
        from scheduler import workdays
        from scheduler.courier.demo import load_certificates

        due = workdays.load().next_working_day(datetime.now(TZ).date())
        certificates = load_certificates(
            session, state.service.catalog, state.service.protector, now=datetime.now(UTC), due=due
        )
        session.commit()
    print(summary)
    print(f"Courier: {certificates} finished certificates wait for the next cut-off")
    print("Demo staff accounts (sample data; passwords change every start):")
    for acc in accounts:
        print(f"  {acc.username:<10} {acc.password:<14} {acc.role:<10} {acc.name}")


if __name__ == "__main__":
    sys.exit(main())
