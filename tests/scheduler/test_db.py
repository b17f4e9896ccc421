"""SQLite engine set-up: WAL checkpoints run outside the writer lock, every N writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

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

    def spy(dbapi_conn: Any) -> Any:
        free = lock._thread_lock.acquire(blocking=False)
        if free:
            lock._thread_lock.release()
        result = checkpoint(dbapi_conn)
        assert result is not None
        busy, frames, copied = result
        seen.append((busy == 0 and frames == copied > 0, free))

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


def test_a_core_connection_can_write_twice(tmp_path: Path) -> None:
    """A second write transaction on one Core connection does not wait for its own lock."""
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.execution_options(**db.WRITE).connect() as conn:
        conn.execute(insert(Zone), {"code": "a", "name": "甲"})
        conn.commit()
        conn.execute(insert(Zone), {"code": "b", "name": "乙"})  # hung for 30 s before
        conn.commit()
    # And the lock is free again for the next connection.
    _, write = db.session_factories(engine)
    with write() as s:
        s.add(Zone(code="c", name="丙"))
        s.commit()
        assert s.scalars(select(Zone.code).order_by(Zone.code)).all() == ["a", "b", "c"]
    engine.dispose()
