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
from scheduler.models import Slot, StaffUser, ZoneTown


def test_migrate_add_clerk_shift_and_staff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After migrate, a clerk's shift gives its zone's half-day visits_per_clerk places."""
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
        assert (slot.zone_code, slot.half_day, slot.capacity, slot.booked) == ("west", "am", 3, 0)
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
