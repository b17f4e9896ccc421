"""Engine and session set-up for SQLite (default) and PostgreSQL, and Alembic upgrades."""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import select
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from scheduler.fastsql import as_sqlalchemy_error, terse

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 30_000
# WAL checkpoints: SQLite's automatic one runs inside a COMMIT, i.e. while the writer
# lock is held (a third of all commit time, stalls of several ms with every writer
# waiting). Instead each process checkpoints (PASSIVE, which never blocks writers) after
# every CHECKPOINT_EVERY write transactions, once the lock is released; the automatic
# checkpoint stays as a safety net at a much larger WAL.
CHECKPOINT_EVERY = 100
AUTOCHECKPOINT_PAGES = 10_000
# Writers on SQLite begin with BEGIN IMMEDIATE so that a read-then-write transaction can
# never fail with SQLITE_BUSY_SNAPSHOT halfway; readers keep deferred transactions.
WRITE = {"onetrip_write": True}


class Base(DeclarativeBase):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; on SQLite with WAL, a busy timeout and writer transactions made IMMEDIATE.

    Statement parameters are kept out of error messages: they hold personal data (masked
    phones and names, keyed hashes) and error messages end up in logs.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault(
            "connect_args", {"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        )
        if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
            raise ValueError("use a SQLite file: every connection must see the same database")
        engine = create_engine(url, **kwargs)
        _sqlite_events(engine)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _drop_if_closed_by_server)

    @event.listens_for(engine, "handle_error")
    def _without_row_values(ctx: Any) -> None:
        err = ctx.original_exception
        if terse(err) is not err:
            raise as_sqlalchemy_error(
                ctx.statement, err, ctx.dialect, invalidated=ctx.is_disconnect
            ) from None

    return engine


def _drop_if_closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: give up a connection the server has closed (a restart, a backend
    terminated by an administrator), so that the pool opens a new one.

    SQLAlchemy's pool_pre_ping asks with a round trip, one more on every request. A
    server that closes a connection sends its FATAL message and then FIN, so the socket
    of such a connection is readable while a healthy idle one has nothing to read: one
    poll without waiting tells them apart. Neither way notices a peer that vanished
    without a word: that shows as an error on first use, and the engine then replaces
    its whole pool (SQLAlchemy for its statements, `fastsql.Prepared` for its own).
    """
    if dbapi_conn.closed:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection or sent an unrequested message")


class WriterLock:
    """Serialises SQLite write transactions across threads and processes.

    SQLite's busy handler polls with sleeps of 1 to 100 ms, so under contention
    writers wait far longer than the lock is held (p99 in hundreds of ms). Queueing
    on a thread lock plus an flock on a side file wakes the next writer at once.
    The conditional UPDATE, not this lock, is what prevents overbooking.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        if not self._thread_lock.acquire(timeout=SQLITE_BUSY_MS / 1000):
            raise TimeoutError("SQLite writer lock not acquired in time")
        try:
            if self._fd is None or self._pid != os.getpid():  # reopen after fork
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_GUARD = threading.Lock()


def writer_lock(database: str) -> WriterLock:
    """One lock per database file and process, shared by every engine on that file."""
    path = os.path.abspath(database) + ".writelock"
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, WriterLock(path))


def _sqlite_events(engine: Engine) -> None:
    lock = writer_lock(engine.url.database or "")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides how to begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get("onetrip_write", False):
            _begin(conn, "BEGIN")
            return
        if not conn.info.get("onetrip_locked"):
            # A Core connection keeps the lock from its first write transaction until it
            # goes back to the pool; a second transaction on it must not wait for itself.
            lock.acquire()
            conn.info["onetrip_locked"] = True
        try:
            _begin(conn, "BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop("onetrip_locked", None)
            lock.release()
            raise

    writes = itertools.count(1)  # write transactions of this process (next() is atomic)

    # The connection goes back to the pool after COMMIT or ROLLBACK has completed.
    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        if record.info.pop("onetrip_locked", False):
            lock.release()
            if next(writes) % CHECKPOINT_EVERY == 0:
                _checkpoint(dbapi_conn)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        if record.info.pop("onetrip_locked", False):
            lock.release()


def _checkpoint(dbapi_conn: Any) -> tuple[int, int, int] | None:
    """PASSIVE checkpoint: (busy, frames in the WAL, frames copied), None if it failed."""
    try:
        busy, frames, copied = dbapi_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, frames, copied
    except sqlite3.Error as err:  # the automatic checkpoint is still there
        log.warning("WAL checkpoint failed: %s", type(err).__name__)
        return None


def _begin(conn: Any, sql: str) -> None:
    """BEGIN straight on the driver: through exec_driver_sql it cost a fifth of an empty
    session transaction, which every request pays. Errors still come out as SQLAlchemy's."""
    try:
        conn.connection.dbapi_connection.execute(sql)
    except sqlite3.Error as err:
        raise as_sqlalchemy_error(sql, err, conn.dialect) from err


def single_statement_engine(engine: Engine) -> Engine:
    """Connections for writes done in one statement, which is atomic by itself.

    On PostgreSQL an engine of its own, whose connections are in autocommit from the
    start: no BEGIN and COMMIT round trips, and nothing to switch at checkout and back at
    checkin (switching the connections of a shared pool cost 0.15 ms a request). On
    SQLite the write engine: a write must begin IMMEDIATE, under the writer lock.
    """
    if engine.dialect.name != "postgresql":
        return engine.execution_options(**WRITE)
    url = engine.url.render_as_string(hide_password=False)
    # Nothing to roll back when a connection comes back: it never holds a transaction.
    # A second pool per process: count it when sizing max_connections.
    return make_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)


class KeptConnections:
    """Connections of an autocommit engine kept open between uses, for writes of one
    statement on PostgreSQL (`single_statement_engine`).

    A pool checkout and check-in with a new Connection object cost a booking some
    60 µs of worker CPU. An autocommit connection holds nothing between statements, so
    up to `keep` of them wait here, checked out, for the next use, whichever thread
    makes it; more at once come from the engine's pool as before, and go back to it.
    Each use still checks, as the pool's checkout does, that the server has not closed
    the connection; an invalidated one (lost mid-statement) is dropped. Connections
    made before a fork are left to the parent.
    """

    def __init__(self, engine: Engine, keep: int = 4) -> None:
        self.engine = engine
        self._keep = keep
        self._idle: list[tuple[int, Connection]] = []  # (process id, connection)
        self._lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _take(self) -> Connection:
        pid = os.getpid()
        while True:
            with self._lock:
                item = self._idle.pop() if self._idle else None
            if item is None:
                return self.engine.connect()
            owner, conn = item
            if owner != pid:
                continue  # the parent's: neither used nor closed here
            try:
                _drop_if_closed_by_server(conn.connection.dbapi_connection, None, None)
            except DisconnectionError:
                conn.invalidate()
                conn.close()
                continue
            return conn

    def _give_back(self, conn: Connection) -> None:
        if not conn.invalidated and not conn.closed:
            if conn.in_transaction():  # SQLAlchemy's own, begun by a fallback query
                conn.rollback()
            with self._lock:
                if len(self._idle) < self._keep:
                    self._idle.append((os.getpid(), conn))
                    return
        conn.close()

    def dispose(self) -> None:
        """Close this process's kept connections, then the engine's pool."""
        with self._lock:
            mine = [c for pid, c in self._idle if pid == os.getpid()]
            self._idle = []
        for conn in mine:
            conn.close()
        self.engine.dispose()


def session_factories(engine: Engine) -> tuple[sessionmaker[Any], sessionmaker[Any]]:
    """(read, write) session factories; the write one begins IMMEDIATE on SQLite."""
    read = sessionmaker(bind=engine, expire_on_commit=False)
    write = sessionmaker(bind=engine.execution_options(**WRITE), expire_on_commit=False)
    return read, write


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the one migration history)."""
    command.upgrade(alembic_config(url), revision)
