"""`onetrip plan` and `onetrip scheduler --once`: the same planning, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from booking_support import NOW, SECRET, small_catalog, test_keyring
from ops_support import VISIT_DAY, book
from sqlalchemy import func, select, update

from scheduler import cli, db
from scheduler.booking import BookingService
from scheduler.models import Slot
from scheduler.planning.models import PlanVersion
from scheduler.protect import Protector


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from booking_support import seed, test_settings

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ONETRIP_SECRET_KEY", SECRET)
    monkeypatch.setenv("ONETRIP_SOLVER", "ortools")
    # The command's app decrypts with the keys the bookings were made with.
    keys = tmp_path / "data_keys.json"
    test_keyring().save(keys)
    monkeypatch.setenv("ONETRIP_DATA_KEYS_FILE", str(keys))
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    db.upgrade(url)
    engine = db.make_engine(url)
    _, write = db.session_factories(engine)
    service = BookingService(small_catalog(), test_settings(), Protector(test_keyring()))
    with write() as s:
        seed(s, service.settings, NOW.date())
        s.execute(update(Slot).values(capacity=8))
        book(service, s, n=3, towns=["331126001", "331126002"])
        s.commit()
    yield write
    engine.dispose()


def test_plan_prints_the_figures_and_stores_a_version(
    cli_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`onetrip plan --date` prints served/booked, travel and each clerk's day; stores v1."""
    assert cli.main(["plan", "--date", VISIT_DAY.isoformat(), "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "visits served / booked : 3 / 3" in out and "lateness               : 0 s" in out
    assert "stored as version 1" in out
    with cli_db() as s:
        assert s.scalar(select(func.count()).select_from(PlanVersion)) == 1


def test_plan_dry_run_stores_nothing(cli_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run prints the figures without writing a version."""
    assert cli.main(["plan", "--date", VISIT_DAY.isoformat(), "--seconds", "1", "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    with cli_db() as s:
        assert s.scalar(select(func.count()).select_from(PlanVersion)) == 0


def test_scheduler_once_runs_the_nightly_job_once(
    cli_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`onetrip scheduler --once nightly-plan --now …` plans the next working day once."""
    args = ["scheduler", "--once", "nightly-plan", "--now", "2026-06-01T17:31:00+08:00"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("nightly-plan: None") == 1
    with cli_db() as s:
        v = s.scalars(select(PlanVersion)).one()
        assert v.date == VISIT_DAY and v.kind == "nightly"


def test_python_m_scheduler_is_the_scheduler_command() -> None:
    """`python -m scheduler --help` is the help of `onetrip scheduler` (its --once option)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "scheduler", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--once" in out and "nightly-plan" in out


def test_demo_scheduler_process_gets_the_demo_database_and_data_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's scheduler process is started on the demo's database and data directory
    with a data-keys file (owner-only) from which its app decrypts what the web app
    encrypted (phones for notices), not only with the cookie secret."""
    import subprocess
    from types import SimpleNamespace

    from scheduler.protect import Keyring
    from scheduler.web import create_app

    ring = Keyring.generate()
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    config = {"DATA_DIR": str(tmp_path), "DATABASE_URL": url, "SECRET_KEY": "s" * 32}
    calls: list[dict[str, str]] = []

    def popen(args: list[str], env: dict[str, str]) -> Any:
        calls.append(env)
        return SimpleNamespace(pid=4321)

    monkeypatch.setattr(subprocess, "Popen", popen)
    cli._start_scheduler(SimpleNamespace(config={**config, "DATA_KEYS": ring}))
    (env,) = calls
    assert env["DATABASE_URL"] == url and env["ONETRIP_DATA_DIR"] == str(tmp_path)
    keys = Path(env["ONETRIP_DATA_KEYS_FILE"])
    assert keys.stat().st_mode & 0o077 == 0
    for name in ("DATABASE_URL", "ONETRIP_DATA_DIR", "ONETRIP_DATA_KEYS_FILE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    child = create_app()
    token = Protector(ring).encrypt("13905781234", field="phone_enc")
    assert child.extensions["onetrip"].protector.decrypt(token, field="phone_enc") == "13905781234"
    child.extensions["onetrip"].dispose()
