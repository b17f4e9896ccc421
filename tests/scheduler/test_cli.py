"""The `onetrip` command: migrate, clerks, shifts (capacity follows) and staff logins."""

from __future__ import annotations

import io
import logging
import threading
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from booking_support import SECRET, small_catalog
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from scheduler import cli
from scheduler.models import Slot, SlotSkill, StaffUser, ZoneTown


def test_migrate_add_clerk_shift_and_staff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After migrate, a clerk's shift gives its zone's half-day the places the plan can
    keep: out only the morning, an hour's drive each way to the west zone leaves one visit
    (docs/benchmarks.md, Operations), of the clerk's skill only (its 30 minutes)."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ONETRIP_SECRET_KEY", SECRET)
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    assert cli.main(["migrate"]) == 0
    assert cli.main(["add-clerk", "叶晓燕", "--skills", "social-insurance"]) == 0
    assert cli.main(["add-shift", "1", "west", "2026-12-01", "am"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["add-staff", "wangfang", "王芳", "window"]) == 0
    assert cli.main(["purge", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "clerk 1" in out and "erased from 0 booking(s)" in out
    engine = create_engine(url)
    with Session(engine) as s:
        assert s.get(ZoneTown, "331126205").zone_code == "west"  # type: ignore[union-attr]
        slot = s.scalars(select(Slot).where(Slot.date == date(2026, 12, 1))).one()
        assert (slot.zone_code, slot.half_day, slot.capacity, slot.booked) == ("west", "am", 1, 0)
        skills = dict(s.execute(select(SlotSkill.skill, SlotSkill.service_s)).all())
        assert skills == {"social-insurance": 1800, "household-photo": 0}  # one 30-min visit
        assert s.scalars(select(StaffUser.role)).one() == "window"
    engine.dispose()


def test_short_staff_password_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A staff password under 10 characters is refused."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("ONETRIP_SECRET_KEY", SECRET)
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    assert cli.main(["migrate"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["add-staff", "x", "某", "admin"]) == 2


def test_dev_server_request_lines_leave_query_strings_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`onetrip serve` logs requests (Werkzeug's server) without their query strings: a
    look-up URL carries the phone suffix."""

    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    werkzeug_log = logging.getLogger("werkzeug")
    quiet = cli.WithoutQueryStrings()
    werkzeug_log.addFilter(quiet)
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.port}/api/bookings/ABCD2345?phone_last4=9876"
            assert urllib.request.urlopen(url, timeout=10).read() == b"ok"
            thread.join(10)
    finally:
        werkzeug_log.removeFilter(quiet)
        server.server_close()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    assert "GET /api/bookings/ABCD2345?… HTTP/1.1" in logged
    assert "9876" not in logged and "phone_last4" not in logged


def test_request_lines_with_an_absolute_url_lose_their_query_strings() -> None:
    """A request line whose target is an absolute URL (`GET http://host/…?… HTTP/1.1`,
    as proxies send) loses its query string too."""
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 - - [02/Dec/2026 15:00:00] "%s" 400 -',
        ("GET http://onetrip.example/api/bookings/ABCD2345?phone_last4=9876 HTTP/1.1",),
        None,
    )
    cli.WithoutQueryStrings().filter(record)
    text = record.getMessage()
    assert "9876" not in text and "phone_last4" not in text
    assert "GET http://onetrip.example/api/bookings/ABCD2345?… HTTP/1.1" in text


@pytest.mark.parametrize(
    "line",
    [
        'GET /api/bookings/ABCD2345"?phone_last4=9876 HTTP/1.1',
        'GET /api/bookings/ABCD2345?x="&phone_last4=9876 HTTP/1.1',
        "GET /api/bookings/ABCD2345?x=\u00a0&phone_last4=9876 HTTP/1.1",
        "GET /api/bookings/ABCD2345?x=\u3000&phone_last4=9876 HTTP/1.1",
        "GET /booking?x=\u2028&phone_last4=9876 HTTP/1.1",
        "GET http://onetrip.example/api/bookings/X?x=%20HTTP/1.1&phone_last4=9876 HTTP/1.1",
        "GET /api/bookings/ABCD2345?phone_last4=9876",
        "GET /api/bookings/ABCD2345%3Fphone_last4=9876 HTTP/1.1",
        "GET /booking%3freference=ABCD2345&phone_last4=9876 HTTP/1.1",
        "GET /api/bookings/ABCD2345;phone_last4=9876 HTTP/1.1",
        "\x1b[1;31mGET /api/bookings/ABCD2345;phone_last4=9876 HTTP/1.1\x1b[0m",
    ],
)
def test_decoded_request_lines_lose_their_query_strings(line: str) -> None:
    """Werkzeug logs the target percent-decoded: a quote or a Unicode space in the query
    (`%22`, `%C2%A0`, `%E3%80%80`) must not end the part that is dropped; a `?` the client
    encoded (`%3F`, left encoded) or a `;` starts it, also inside a coloured line."""
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, '127.0.0.1 - - [04/Dec/2026] "%s" 400 -',
        (line,), None,
    )  # fmt: skip
    cli.WithoutQueryStrings().filter(record)
    text = record.getMessage()
    assert "9876" not in text and "phone_last4" not in text
    assert "?…" in text


def test_set_password_and_deactivate_end_the_logins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`onetrip set-password` and `onetrip deactivate-staff` end the account's open
    logins on the server."""
    from datetime import UTC, datetime

    from scheduler import accounts
    from scheduler.models import StaffSession

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    assert cli.main(["migrate"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["add-staff", "wangfang", "王芳", "dispatcher"]) == 0
    engine = create_engine(url)

    def open_login() -> None:
        with Session(engine) as s:
            user = s.scalars(select(StaffUser)).one()
            accounts.start_session(s, user, now=datetime.now(UTC))
            s.commit()

    def open_logins() -> int:
        with Session(engine) as s:
            rows = s.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None)))
            return len(rows.all())

    open_login()
    monkeypatch.setattr("sys.stdin", io.StringIO("another-long-password\n"))
    assert cli.main(["set-password", "wangfang"]) == 0 and open_logins() == 0
    open_login()
    assert cli.main(["deactivate-staff", "wangfang"]) == 0 and open_logins() == 0
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        assert user.role == "dispatcher" and not user.active
    engine.dispose()
    assert "logins ended" in capsys.readouterr().out


def test_keys_rotate_then_reencrypt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`onetrip keys rotate` adds a current key to the keyring file (the old one kept);
    `onetrip keys reencrypt` then reports what it moved."""
    from scheduler.protect import Keyring

    data = tmp_path / "data"
    monkeypatch.setenv("ONETRIP_DATA_DIR", str(data))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setattr("guide.catalog.load", lambda *a, **k: small_catalog())
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    assert cli.main(["migrate"]) == 0
    before = Keyring.loads((data / "data_keys.json").read_text())
    assert (data / "data_keys.json").stat().st_mode & 0o077 == 0  # owner only
    assert cli.main(["keys", "rotate"]) == 0
    after = Keyring.loads((data / "data_keys.json").read_text())
    assert after.current != before.current and before.current in after.keys
    assert after.hash_key == before.hash_key
    assert cli.main(["keys", "reencrypt"]) == 0
    assert "0 value(s) re-encrypted" in capsys.readouterr().out


def test_data_directory_is_outside_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ONETRIP_DATA_DIR the secret key, data keys and default database go to the
    user's data directory, not beside the installed package."""
    from scheduler.web import REPO, data_dir

    monkeypatch.delenv("ONETRIP_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/var/lib/somewhere")
    assert data_dir() == Path("/var/lib/somewhere/onetrip")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert REPO not in data_dir().parents


def test_the_extension_can_be_made_first_and_bound_later(tmp_path: Path) -> None:
    """`OneTrip()` then `init_app(app)`, as Flask extensions are, gives the app its state."""
    from booking_support import test_keyring
    from flask import Flask

    from scheduler.db import upgrade
    from scheduler.web import OneTrip

    url = f"sqlite:///{tmp_path / 'ext.sqlite3'}"
    upgrade(url)
    app = Flask("x")
    app.config.update(
        DATABASE_URL=url, CATALOG=small_catalog(), GEOCODER=None, DATA_KEYS=test_keyring()
    )
    ext = OneTrip()
    ext.init_app(app)
    assert app.extensions["onetrip"] is ext and ext.service.catalog is app.config["CATALOG"]
    ext.dispose()


def test_demo_removes_its_temporary_database_on_sigterm(tmp_path: Path) -> None:
    """`onetrip serve --demo` stopped with SIGTERM (a service manager, `kill`) removes its
    temporary directory, database included."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path), "ONETRIP_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("OneTrip:"):
                break
        made = list(tmp_path.glob("onetrip-demo-*"))
        assert len(made) == 1 and (made[0] / "demo.sqlite3").exists()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(tmp_path.glob("onetrip-demo-*")) == []


def test_secret_files_are_made_once_owner_only(tmp_path: Path) -> None:
    """A secret file is created whole, readable by its owner only, and a second start
    (another worker) reads the same secret instead of writing its own."""
    from scheduler.web import _secret_file

    path = tmp_path / "data" / "secret_key"
    assert _secret_file(path, lambda: "first") == "first"
    assert _secret_file(path, lambda: "second") == "first"
    assert path.stat().st_mode & 0o077 == 0
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary left
