"""The `onetrip` command: migrate, clerks, shifts (capacity follows) and staff logins."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from booking_support import SECRET, small_catalog
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

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
