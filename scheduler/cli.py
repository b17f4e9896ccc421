"""`onetrip` console command: serve the app (and the built guide), migrate, demo data."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from scheduler.settings import TZ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onetrip", description="OneTrip operations app")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve site + API + staff pages on one origin")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="fresh temporary SQLite with demo data")
    serve.add_argument("--site-dir", help="built guide to serve at / (default build/site)")
    sub.add_parser("migrate", help="alembic upgrade head on DATABASE_URL")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        from scheduler.db import upgrade
        from scheduler.web import create_app

        app = create_app()
        upgrade(app.config["DATABASE_URL"])
        print("database upgraded")
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from scheduler.web import create_app

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
