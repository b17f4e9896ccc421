"""Prepared statements on the DBAPI cursor or, on PostgreSQL in autocommit, through libpq:
same rows as SQLAlchemy, errors as SQLAlchemy's."""

from __future__ import annotations

import enum
import signal
import time
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from scheduler import db
from scheduler.fastsql import Prepared, violated_constraint
from scheduler.models import BookingEvent, IdempotencyRecord, Slot, Zone

SLOTS = Slot.__table__
EVENTS = BookingEvent.__table__
KEYS = IdempotencyRecord.__table__


def test_types_and_constants_are_bound_as_sqlalchemy_would(engine: Any) -> None:
    """Dates go through the dialect's bind processor; the 1 of `booked + 1` is a constant."""
    _, write = db.session_factories(engine)
    take = Prepared(
        update(SLOTS)
        .where(SLOTS.c.date == bindparam("day_"), SLOTS.c.booked < SLOTS.c.capacity)
        .values(booked=SLOTS.c.booked + 1)
        .returning(SLOTS.c.id, SLOTS.c.booked)
    )
    with write() as s:
        s.add(Zone(code="east", name="东片"))
        s.flush()
        s.add(Slot(zone_code="east", date=date(2026, 6, 2), half_day="am", capacity=2, booked=0))
        s.commit()
        conn = s.connection()
        assert take.first(conn, {"day_": date(2026, 6, 2)}) == (1, 1)
        assert take.first(conn, {"day_": date(2026, 6, 2)}) == (1, 2)
        assert take.first(conn, {"day_": date(2026, 6, 2)}) is None  # full: the guard held
        assert take.first(conn, {"day_": date(2026, 6, 3)}) is None
        s.commit()
        # Read back through the ORM: the stored date is the one SQLAlchemy reads.
        assert s.scalars(select(Slot.date).where(Slot.booked == 2)).one() == date(2026, 6, 2)


def test_insert_round_trips_datetimes(engine: Any) -> None:
    """A row written by a Prepared INSERT reads back through the ORM unchanged."""
    keys = [c.key for c in KEYS.columns]
    add = Prepared(insert(KEYS).returning(KEYS.c.key), keys)
    at = datetime(2026, 6, 1, 2, 3, 4, 567)
    row = {"key": "k1", "request_hash": "h", "status_code": 201, "response": "{}", "created_at": at}
    _, write = db.session_factories(engine)
    with write() as s:
        assert add.first(s.connection(), row) == ("k1",)
        s.commit()
        assert s.get(IdempotencyRecord, "k1").created_at == at  # type: ignore[union-attr]


def test_errors_are_sqlalchemy_errors_without_parameters(engine: Any) -> None:
    """A broken rule raises SQLAlchemy's IntegrityError; no parameter is in its message."""
    keys = [c.key for c in EVENTS.columns if c.key != "id"]
    add = Prepared(insert(EVENTS), keys)
    row = {
        "booking_id": 1,  # no such booking: the foreign key refuses it on both databases
        "at": datetime(2026, 6, 1),
        "action": "created",
        "actor_kind": "system",
        "actor_staff_id": None,
        "channel": "system",
        "from_status": None,
        "to_status": "pending",
        "detail": "secret-detail",
    }
    _, write = db.session_factories(engine)
    with write() as s:
        with pytest.raises(IntegrityError) as err:
            add.first(s.connection(), row)
        assert "secret-detail" not in str(err.value)
        s.rollback()


def test_missing_parameter_is_a_key_error(engine: Any) -> None:
    """A parameter the statement needs and the caller forgot fails before the database."""
    _, write = db.session_factories(engine)
    take = Prepared(update(SLOTS).where(SLOTS.c.id == bindparam("id_")).values(booked=0))
    with write() as s, pytest.raises(KeyError, match="id_"):
        take.first(s.connection(), {})


def test_runs_inside_the_connections_transaction(engine: Any) -> None:
    """On a fresh Connection the statement begins a transaction: rollback undoes it."""
    keys = [c.key for c in KEYS.columns]
    add = Prepared(insert(KEYS), keys)
    row = {"key": "k2", "request_hash": "h", "status_code": 0, "response": "", "created_at": None}
    write_engine = engine.execution_options(**db.WRITE)
    with write_engine.connect() as conn:
        add.first(conn, {**row, "created_at": datetime(2026, 6, 1)})
        assert conn.in_transaction()
        conn.rollback()
    with write_engine.connect() as conn:
        assert conn.scalar(select(KEYS.c.key)) is None
        add.first(conn, {**row, "created_at": datetime(2026, 6, 1)})
        conn.commit()
    with engine.connect() as conn:
        assert conn.scalar(select(KEYS.c.key)) == "k2"


def test_one_statement_booking_stays_in_psycopg_query_cache() -> None:
    """psycopg converts a query longer than 4096 bytes or with more than 50 parameters
    afresh on every execution, which cost this one 0.4 ms a booking; adding columns to
    bookings must not push it over."""
    from psycopg import _queries
    from sqlalchemy.dialects.postgresql import psycopg as pg_dialect

    from scheduler.booking import _BOOK_AT_ONCE

    compiled = _BOOK_AT_ONCE._for(pg_dialect.dialect())
    assert len(compiled.sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(compiled.binds) <= _queries.MAX_CACHED_STATEMENT_PARAMS


# -- PostgreSQL in autocommit: the libpq path -----------------------------------------


@pytest.fixture
def autocommit(postgres_url: str) -> Iterator[Any]:
    """An engine as `POST /api/bookings` uses it on PostgreSQL (autocommit), on an empty
    database."""
    engine = db.make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE idempotency_keys, booking_events, slots, zones CASCADE"))
    single = db.single_statement_engine(engine)
    yield single
    single.dispose()
    engine.dispose()


def _prepared_here(conn: Any) -> set[str]:
    """Our named statements on `conn`'s server session."""
    rows = conn.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars()
    return {n for n in rows if n.startswith("onetrip_")}


@pytest.mark.postgres
def test_libpq_path_round_trips_every_type(autocommit: Any) -> None:
    """Text, integers, floats, booleans, dates, naive timestamps and NULL written as text
    parameters read back through SQLAlchemy unchanged; the statement was prepared once."""
    echo = Prepared(
        select(
            bindparam("i", type_=BigInteger),
            bindparam("s", type_=String),
            bindparam("f", type_=Float),
            bindparam("b", type_=Boolean),
            bindparam("n", type_=Integer),
        )
    )
    values = {"i": -(2**40), "s": "浙江 'quoted' \\ %s $1", "f": 119.0679831, "b": True, "n": None}
    with autocommit.connect() as conn:
        assert echo.first(conn, values) == (-(2**40), values["s"], 119.0679831, True, None)
        assert echo.first(conn, {**values, "b": False, "f": float("inf")})[2:4] == (
            float("inf"),
            False,
        )
        assert not conn.in_transaction()  # autocommit: nothing was begun
        assert len(_prepared_here(conn)) == 1

    add = Prepared(
        insert(KEYS).returning(KEYS.c.key, KEYS.c.status_code), [c.key for c in KEYS.columns]
    )
    at = datetime(2026, 6, 1, 2, 3, 4, 567)
    row = {"key": "k", "request_hash": "h", "status_code": 201, "response": "{}", "created_at": at}
    with autocommit.connect() as conn:
        assert add.first(conn, row) == ("k", 201)
        take = Prepared(
            update(SLOTS)
            .where(SLOTS.c.date == bindparam("day_"), SLOTS.c.booked < SLOTS.c.capacity)
            .values(booked=SLOTS.c.booked + 1)
            .returning(SLOTS.c.id)
        )
        conn.execute(insert(Zone.__table__), {"code": "east", "name": "东片"})
        conn.execute(
            insert(SLOTS),
            {
                "zone_code": "east",
                "date": date(2026, 6, 2),
                "half_day": "am",
                "capacity": 1,
                "booked": 0,
            },
        )
        assert take.first(conn, {"day_": date(2026, 6, 2)}) == (1,)
        assert take.first(conn, {"day_": date(2026, 6, 2)}) is None  # full: the guard held
    with autocommit.connect() as conn:
        assert conn.scalar(select(KEYS.c.created_at)) == at


@pytest.mark.postgres
def test_libpq_path_leaves_to_the_cursor_what_is_not_plain_text(autocommit: Any) -> None:
    """A NUL in a string, an aware timestamp for a naive column, a date in the result:
    the cursor runs those, with psycopg's own conversions and errors."""
    from zoneinfo import ZoneInfo

    add = Prepared(insert(KEYS).returning(KEYS.c.created_at), [c.key for c in KEYS.columns])
    row = {"key": "k", "request_hash": "h", "status_code": 0, "response": "", "created_at": None}
    aware = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with autocommit.connect() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        # Read as timestamp without time zone, the instant in the session's zone (UTC).
        assert add.first(conn, {**row, "created_at": aware}) == (datetime(2026, 6, 1, 2, 0),)
        with pytest.raises(DataError):
            add.first(conn, {**row, "key": "k2", "response": "a\x00b"})
        day = Prepared(select(bindparam("d", type_=Date)))
        assert day.first(conn, {"d": date(2026, 6, 2)}) == (date(2026, 6, 2),)
        assert day.first(conn, {"d": date(2026, 6, 3)}) == (date(2026, 6, 3),)


@pytest.mark.postgres
def test_libpq_path_errors_are_sqlalchemys_without_values(autocommit: Any) -> None:
    """A broken unique rule is SQLAlchemy's IntegrityError naming the constraint, with no
    row value in its message; the connection stays usable."""
    add = Prepared(insert(KEYS).returning(KEYS.c.key), [c.key for c in KEYS.columns])
    row = {
        "key": "secret-key-value",
        "request_hash": "h",
        "status_code": 0,
        "response": "",
        "created_at": datetime(2026, 6, 1),
    }
    with autocommit.connect() as conn:
        assert add.first(conn, row) == ("secret-key-value",)
        with pytest.raises(IntegrityError) as err:
            add.first(conn, row)
        assert violated_constraint(err.value) == "idempotency_keys_pkey"
        assert "secret-key-value" not in str(err.value)
        assert add.first(conn, {**row, "key": "other"}) == ("other",)


@pytest.mark.postgres
def test_libpq_path_prepares_again_after_deallocate(autocommit: Any) -> None:
    """A statement deallocated behind its back (DISCARD ALL by a pooler) is prepared again."""
    one = Prepared(select(bindparam("x", type_=Integer)))
    with autocommit.connect() as conn:
        assert one.first(conn, {"x": 1}) == (1,)
        conn.exec_driver_sql("DEALLOCATE ALL")
        assert _prepared_here(conn) == set()
        assert one.first(conn, {"x": 2}) == (2,)
        assert len(_prepared_here(conn)) == 1


@pytest.mark.postgres
def test_libpq_path_same_text_or_name_runs_right(autocommit: Any) -> None:
    """Two Prepared of the same statement share its server-side name on a connection;
    a Float and a Boolean parameter (same SQL text, no cast) do not."""
    first, again = (Prepared(select(bindparam("x", type_=Integer))) for _ in range(2))
    as_float = Prepared(select(bindparam("x", type_=Float)))
    as_bool = Prepared(select(bindparam("x", type_=Boolean)))
    with autocommit.connect() as conn:
        assert first.first(conn, {"x": 1}) == (1,)
        assert again.first(conn, {"x": 2}) == (2,)
        assert as_float.first(conn, {"x": 1.5}) == (1.5,)
        assert as_bool.first(conn, {"x": True}) == (True,)
        assert len(_prepared_here(conn)) == 3


@pytest.mark.postgres
def test_libpq_path_reports_an_error_after_the_rows(autocommit: Any) -> None:
    """In autocommit a constraint checked at commit fails after the statement returned
    its row: that is an IntegrityError, not a row that was rolled back."""
    table = Table("t_deferred", MetaData(), Column("v", Integer))
    add = Prepared(insert(table).returning(table.c.v), ["v"])
    with autocommit.connect() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE t_deferred"
            " (v int, CONSTRAINT u_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED)"
        )
        try:
            assert add.first(conn, {"v": 7}) == (7,)
            with pytest.raises(IntegrityError) as err:
                add.first(conn, {"v": 7})
            assert violated_constraint(err.value) == "u_v"
            assert conn.exec_driver_sql("SELECT count(*) FROM t_deferred").scalar() == 1
        finally:
            conn.exec_driver_sql("DROP TABLE t_deferred")


@pytest.mark.postgres
def test_libpq_path_cancels_an_interrupted_statement(autocommit: Any) -> None:
    """A statement interrupted while the server works (a worker timeout raises SystemExit)
    is cancelled, not left to commit after its client gave up; the connection is not
    reused."""
    slow_keys = Prepared(
        insert(KEYS)
        .from_select(
            [c.key for c in KEYS.columns],
            select(
                bindparam("key", type_=String),
                bindparam("h", type_=String),
                bindparam("code", type_=Integer),
                bindparam("r", type_=String),
                bindparam("at", type_=DateTime),
            ).where(text("pg_sleep(:secs) IS NOT NULL").bindparams(bindparam("secs", type_=Float))),
        )
        .returning(KEYS.c.key)
    )
    row = {"key": "late", "h": "h", "code": 0, "r": "", "at": datetime(2026, 6, 1)}

    def quit_worker(*_: Any) -> None:
        raise SystemExit("worker timeout")

    before = signal.signal(signal.SIGALRM, quit_worker)
    try:
        with autocommit.connect() as conn:
            # Prepared and run once without a pause, so the interruption below lands while
            # the server executes the statement, not while it is being prepared.
            assert slow_keys.first(conn, {**row, "key": "warm", "secs": 0.0}) == ("warm",)
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(SystemExit):
                slow_keys.first(conn, {**row, "secs": 2.0})
            assert conn.invalidated
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    time.sleep(2.5)  # past the statement's own end, had it not been cancelled
    with autocommit.connect() as conn:
        assert list(conn.scalars(select(KEYS.c.key))) == ["warm"]


@pytest.mark.postgres
def test_libpq_path_steps_aside_for_another_client_encoding(autocommit: Any) -> None:
    """A session switched to another client_encoding (settings survive checkouts) gets
    the cursor, which converts: the server sees the text as given."""
    length = Prepared(select(func.char_length(bindparam("s", type_=String))))
    with autocommit.connect() as conn:
        assert length.first(conn, {"s": "é"}) == (1,)
        conn.exec_driver_sql("SET client_encoding TO 'LATIN1'")
        assert length.first(conn, {"s": "é"}) == (1,)  # not 2: "Ã©"


class _Grade(int, enum.Enum):
    FIRST = 1


@pytest.mark.postgres
def test_libpq_path_leaves_other_types_to_the_cursor(autocommit: Any) -> None:
    """A value of another type than its parameter's (a bool or a float for an integer, an
    integer or a timestamp for a date) means what psycopg's cursor makes of it; an
    int-based Enum is its number."""
    as_int = Prepared(select(bindparam("x", type_=Integer)))
    as_day = Prepared(select(func.to_char(bindparam("d", type_=Date), "YYYY-MM-DD HH24")))
    with autocommit.connect() as conn:
        assert as_int.first(conn, {"x": _Grade.FIRST}) == (1,)
        assert as_int.first(conn, {"x": True}) == (1,)
        assert as_int.first(conn, {"x": 3.0}) == (3,)
        assert as_day.first(conn, {"d": datetime(2026, 6, 1, 10)}) == ("2026-06-01 00",)
        # No cast from integer to date, nor from a date or a timestamp to integer.
        for query, value in ((as_day, 20260601), (as_int, date(2026, 6, 1))):
            with pytest.raises(ProgrammingError):
                query.first(conn, {"d": value, "x": value})
        with pytest.raises(ProgrammingError):
            as_int.first(conn, {"x": datetime(2026, 6, 1)})


@pytest.mark.postgres
def test_libpq_path_survives_forgetting_what_it_prepared(autocommit: Any) -> None:
    """Should the connection's note of its statements be lost while the server keeps
    them, preparing again is not an error."""
    one = Prepared(select(bindparam("x", type_=Integer)))
    with autocommit.connect() as conn:
        assert one.first(conn, {"x": 1}) == (1,)
        conn.connection.info["onetrip_prepared"].clear()
        assert one.first(conn, {"x": 2}) == (2,)


@pytest.mark.postgres
def test_statement_in_psycopg_pipeline_returns_its_row(autocommit: Any) -> None:
    """In psycopg's pipeline mode the libpq path steps aside and the cursor still hands
    back the RETURNING row."""
    add = Prepared(insert(KEYS).returning(KEYS.c.key), [c.key for c in KEYS.columns])
    row = {"key": "p", "request_hash": "h", "status_code": 0, "response": "", "created_at": None}
    with autocommit.connect() as conn, conn.connection.driver_connection.pipeline():
        assert add.first(conn, {**row, "created_at": datetime(2026, 6, 1)}) == ("p",)
