"""SQLite engine set-up: WAL checkpoints run outside the writer lock, every N writes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, insert, literal_column, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from scheduler import db
from scheduler.db import Base
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


@pytest.mark.postgres
def test_pool_replaces_a_connection_the_server_closed(postgres_url: str) -> None:
    """A backend terminated while its connection sat in the pool (as on a server restart)
    is noticed at checkout, without a ping, and replaced: the next use just works."""
    engine = db.make_engine(postgres_url, pool_size=1)
    with engine.connect() as conn:
        old_pid = conn.scalar(text("SELECT pg_backend_pid()"))
    admin = create_engine(postgres_url, poolclass=NullPool)
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})
        for _ in range(500):  # termination is asynchronous
            if not conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": old_pid}
            ):
                break
            time.sleep(0.01)
    time.sleep(0.05)  # the FATAL message and FIN reach our socket
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != old_pid
    # Without the check the pool would have handed out the dead connection.
    event.remove(engine, "checkout", db._drop_if_closed_by_server)
    with engine.connect() as conn:
        live_pid = conn.scalar(text("SELECT pg_backend_pid()"))
    with admin.connect() as conn:
        conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": live_pid})
    time.sleep(0.3)
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
    engine.dispose()
    admin.dispose()


def test_migrations_build_the_schema_the_models_describe(db_url: str) -> None:
    """`alembic upgrade head` (the fixtures' databases) and the models agree: no column,
    index, constraint or type that one has and the other lacks."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.mark.postgres
def test_pool_keeps_healthy_connections(postgres_url: str) -> None:
    """The closed-connection check lets a healthy connection be used again: the same
    server process serves one checkout after another, on both engines."""
    engine = db.make_engine(postgres_url, pool_size=1)
    for eng in (engine, db.single_statement_engine(engine)):
        pids = set()
        for _ in range(5):
            with eng.connect() as conn:
                pids.add(conn.scalar(text("SELECT pg_backend_pid()")))
        assert len(pids) == 1
        eng.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("autocommit", [False, True], ids=["transaction", "autocommit"])
def test_a_lost_connection_replaces_the_pool(postgres_url: str, autocommit: bool) -> None:
    """When the server vanished without notice (no check can see it), the first
    statement fails and the engine drops its whole pool, so the next request gets a
    fresh connection instead of the next dead one, in autocommit (the single-statement
    engine) too."""
    options: dict[str, Any] = {"pool_size": 2}
    if autocommit:
        options.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    engine = db.make_engine(postgres_url, **options)
    event.remove(engine, "checkout", db._drop_if_closed_by_server)  # as if it saw nothing
    first, second = engine.connect(), engine.connect()
    pids = [c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
    first.close()
    second.close()
    admin = create_engine(postgres_url, poolclass=NullPool)
    with admin.connect() as conn:
        for pid in pids:
            conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.3)
    one = select(literal_column("1"))
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(one)
    with engine.connect() as conn:
        assert conn.execute(one).first() == (1,)
        assert conn.scalar(text("SELECT pg_backend_pid()")) not in pids
    engine.dispose()
    admin.dispose()


@pytest.mark.postgres
def test_postgresql_statements_have_a_timeout(postgres_url: str) -> None:
    """Every connection of the app's engines runs with a statement_timeout, so a hung
    statement cannot hold a worker forever; a statement past it fails (a 503)."""
    engine = db.make_engine(postgres_url, statement_timeout_ms=200)
    single = db.single_statement_engine(engine)
    try:
        for eng in (engine, single):
            with eng.connect() as conn:
                assert conn.scalar(text("SHOW statement_timeout")) == "200ms"
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
        single.dispose()


def test_sqlite_waits_for_the_writer_lock_a_bounded_time(tmp_path: Path) -> None:
    """A writer that cannot get SQLite's write lock (another process holds it) gives up
    after the busy timeout instead of waiting forever."""
    import fcntl
    import os

    path = str(tmp_path / "busy.sqlite3") + ".writelock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as another process in the middle of a write
    try:
        with pytest.raises(TimeoutError):
            db.WriterLock(path, timeout_s=0.3).acquire()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_migration_0003_shortens_stored_id_masks(tmp_path: Path) -> None:
    """Upgrading a database with bookings of the earlier form keeps only the region
    prefix of each stored ID mask and drops the exact age."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db.upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO zones (code, name) VALUES ('west', '西片')"))
        conn.execute(
            text(
                "INSERT INTO slots (zone_code, date, half_day, capacity, booked) "
                "VALUES ('west', '2026-06-02', 'am', 2, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bookings (reference, item_code, status, channel, "
                "applicant_name_enc, applicant_name_masked, id_hash, id_masked, age_band, "
                "age_at_booking, phone_enc, phone_masked, booker_kind, town_code, zone_code, "
                "village, address_detail_enc, reason, eligible_by, needs_phone_check, slot_id, "
                "date, half_day, created_at, updated_at, lookup_failures) VALUES ("
                "'ABCD2345', 'x', 'pending', 'web', 'e', '吴**', 'h', '3311**********123X', "
                "'80-89', 86, 'e', '139****1234', 'self', '331126205', 'west', '', 'e', 'age', "
                "'age', 0, 1, '2026-06-02', 'am', '2026-06-01', '2026-06-01', 0)"
            )
        )
    engine.dispose()
    db.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM bookings")).mappings().one()
    engine.dispose()
    assert row["id_masked"] == "3311**************" and "age_at_booking" not in row
