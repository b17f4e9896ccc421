"""`onetrip courier-cutoff` and `onetrip courier-rotate-key`."""

from __future__ import annotations

from pathlib import Path

import pytest
from booking_support import SECRET
from courier_support import MORNING, NOW, finish
from sqlalchemy import func, select

from scheduler import cli, db
from scheduler.booking import ensure_zones
from scheduler.courier.models import Batch, SigningKey
from scheduler.settings import QINGYUAN_ZONES


def test_cutoff_command_batches_once_and_rotate_key_adds_a_signer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command runs a named cut-off (a second call reports it already ran) and
    rotating keys leaves the old key published but retired."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ONETRIP_SECRET_KEY", SECRET)
    monkeypatch.setattr("scheduler.web._gazetteer_geocoder", lambda: None)
    db.upgrade(url)
    engine = db.make_engine(url)
    _, write = db.session_factories(engine)
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        finish(s, 1, now=NOW)
        finish(s, 2, now=NOW, out=True)
        s.commit()
    at = MORNING.strftime("%Y-%m-%dT%H:%M")
    assert cli.main(["courier-cutoff", "--at", at]) == 0
    assert cli.main(["courier-cutoff", "--at", at]) == 0
    out = capsys.readouterr().out
    assert "cutoff:county-hall:2026-06-01T10:30: done; 1 run(s), 1 EMS" in out
    assert "already run" in out
    assert cli.main(["courier-rotate-key"]) == 0
    assert cli.main(["courier-rotate-key"]) == 0
    with write() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 2
        keys = list(s.scalars(select(SigningKey)))
        assert len(keys) == 2 and sum(k.retired_at is None for k in keys) == 1
    engine.dispose()
