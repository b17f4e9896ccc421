"""Engine and session set-up for SQLite (default) and PostgreSQL, and Alembic upgrades."""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import select
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# How long a statement may wait or run before it fails (503), so that a hung or locked
# database cannot hold a worker forever: SQLite's busy timeout (and the writer lock's
# wait within a process), PostgreSQL's statement_timeout. ONETRIP_STATEMENT_TIMEOUT_MS
# overrides both.
STATEMENT_TIMEOUT_MS = int(os.environ.get("ONETRIP_STATEMENT_TIMEOUT_MS") or 15_000)
SQLITE_BUSY_MS = STATEMENT_TIMEOUT_MS
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


def make_engine(
    url: str, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS, **kwargs: Any
) -> Engine:
    """An engine; on SQLite with WAL, a busy timeout and writer transactions made
    IMMEDIATE; on PostgreSQL with a statement_timeout.

    Statement parameters are kept out of error messages: they hold personal data (masked
    phones and names, keyed hashes) and error messages end up in logs. Behind a pooler in
    transaction mode (PgBouncer) set ONETRIP_PG_PREPARE=0: psycopg then prepares no
    statements on the server.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault(
            "connect_args", {"timeout": statement_timeout_ms / 1000, "check_same_thread": False}
        )
        if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
            raise ValueError("use a SQLite file: every connection must see the same database")
        engine = create_engine(url, **kwargs)
        _sqlite_events(engine, statement_timeout_ms)
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("options", f"-c statement_timeout={int(statement_timeout_ms)}")
    if os.environ.get("ONETRIP_PG_PREPARE") == "0":
        connect_args.setdefault("prepare_threshold", None)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _TIMEOUTS[engine] = statement_timeout_ms
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _drop_if_closed_by_server)
    return engine


# The statement timeout each PostgreSQL engine was made with (for its autocommit twin).
_TIMEOUTS: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def _drop_if_closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: give up a connection the server has closed (a restart, a backend
    terminated by an administrator), so that the pool opens a new one.

    SQLAlchemy's pool_pre_ping asks with a round trip, one more on every request. A
    server that closes a connection sends its FATAL message and then FIN, so the socket
    of such a connection is readable while a healthy idle one has nothing to read: one
    poll without waiting tells them apart. Neither way notices a peer that vanished
    without a word: that shows as an error on first use, and the engine then replaces
    its whole pool.
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

    def __init__(self, path: str, timeout_s: float = SQLITE_BUSY_MS / 1000) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout_s
        if not self._thread_lock.acquire(timeout=self._timeout_s):
            raise TimeoutError("SQLite writer lock not acquired in time")
        try:
            if self._fd is None or self._pid != os.getpid():  # reopen after fork
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            self._flock(self._fd, deadline)
        except BaseException:
            self._thread_lock.release()
            raise

    @staticmethod
    def _flock(fd: int, deadline: float) -> None:
        """The other processes' lock, waited for until `deadline` (flock itself has no
        timeout): short sleeps, growing to 2 ms, while another process writes."""
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError("SQLite writer lock not acquired in time") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

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


def _sqlite_events(engine: Engine, busy_ms: int) -> None:
    lock = writer_lock(engine.url.database or "")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides how to begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
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
    """SQLAlchemy's documented recipe for SQLite transactions: the driver's own
    transaction handling off, the BEGIN sent here."""
    conn.exec_driver_sql(sql)


def single_statement_engine(engine: Engine) -> Engine:
    """Connections for writes done in one statement, which is atomic by itself.

    On PostgreSQL an engine of its own, whose connections are in autocommit from the
    start: no BEGIN and COMMIT round trips. On SQLite the write engine: a write must
    begin IMMEDIATE, under the writer lock.
    """
    if engine.dialect.name != "postgresql":
        return engine.execution_options(**WRITE)
    url = engine.url.render_as_string(hide_password=False)
    # Nothing to roll back when a connection comes back: it never holds a transaction.
    # A second pool per process: count it when sizing max_connections.
    return make_engine(
        url,
        statement_timeout_ms=_TIMEOUTS.get(engine, STATEMENT_TIMEOUT_MS),
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
    )


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
