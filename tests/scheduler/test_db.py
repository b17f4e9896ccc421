"""SQLite engine set-up: WAL checkpoints run outside the writer lock, every N writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scheduler import db
from scheduler.models import Zone


def test_checkpoint_after_every_n_write_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process checkpoints after CHECKPOINT_EVERY writes, with the writer lock
    released; read transactions do not count; afterwards every WAL frame is in the
    database file."""
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    lock = db.writer_lock(str(tmp_path / "c.sqlite3"))
    seen: list[tuple[int, bool]] = []

    def spy(dbapi_conn: Any) -> None:
        free = lock._thread_lock.acquire(blocking=False)
        if free:
            lock._thread_lock.release()
        checkpoint(dbapi_conn)
        _busy, frames, copied = dbapi_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        seen.append((frames == copied, free))

    checkpoint = db._checkpoint
    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 5)
    monkeypatch.setattr(db, "_checkpoint", spy)
    read, write = db.session_factories(engine)
    for i in range(12):
        with write() as s:
            s.add(Zone(code=f"z{i}", name="片区" * 500))
            s.commit()
        with read() as s:
            s.scalars(select(Zone)).all()
    assert seen == [(True, True), (True, True)]
    engine.dispose()
