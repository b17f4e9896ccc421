"""Core statements run on the DBAPI cursor of the caller's transaction: the booking hot path.

SQLAlchemy's work per execution (cache key, parameter construction, result set-up) costs
50-100 µs for a 40-column INSERT, several times what SQLite needs to run it, and a
booking runs three such statements. A `Prepared` statement is compiled once per dialect
by SQLAlchemy's own compiler, with the bind processors of the column types, and then
runs straight on the DBAPI connection. The transaction stays SQLAlchemy's: begin (the
SQLite writer lock, BEGIN IMMEDIATE), commit, rollback and pool check-in are unchanged.
Database errors come back as SQLAlchemy exceptions, without parameters in the message.

On PostgreSQL, a statement run in autocommit (the booking without an Idempotency-Key)
skips psycopg's cursor too: it is prepared once per connection under a name of its own
and then executed through psycopg's documented libpq wrapper (`psycopg.pq`), with text
parameters and results. psycopg's cursor spends some 100 µs of Python per execution on
work this statement does not need (query conversion, adapters and loaders chosen per
value, a description built per result); the server does the same work either way.
Anything the text path does not handle (an unusual type, a value that is not plainly
text) goes through the cursor instead. Behind a pooler in transaction mode, named
prepared statements need its support for them (PgBouncer 1.21+
`max_prepared_statements`), as psycopg's own do.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import select
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool
    # (bind name, key in the caller's parameters or None for a constant, constant, processor)
    binds: tuple[tuple[str, str | None, Any, _Processor], ...]
    returns_rows: bool  # a SELECT or a RETURNING: known here, not asked of the cursor


class Prepared:
    """A Core statement, compiled per dialect on first use; `first()` runs it."""

    def __init__(self, statement: ClauseElement, keys: Iterable[str] | None = None) -> None:
        """`keys`: for an INSERT without values(), the columns the parameters carry."""
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._compiled: dict[tuple[type[Dialect], str], _Compiled] = {}
        self._libpq: dict[type[Dialect], _LibpqStatement | None] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (type(dialect), dialect.paramstyle)
        found = self._compiled.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._compiled.get(key)  # another thread may have compiled it meanwhile
            if found is not None:
                return found
            compiled = self._statement.compile(dialect=dialect, column_keys=self._keys)
            assert isinstance(compiled, SQLCompiler)
            names = compiled.positiontup if compiled.positional else list(compiled.binds)
            binds = []
            for name in names or ():
                bind = compiled.binds[name]
                # Binds with a value of their own (the 1 of "booked + 1") are constants;
                # the others take the caller's parameter of the same key.
                source = None if bind.value is not None and not bind.required else bind.key
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                binds.append((name, source, bind.value, processor))
            returns_rows = getattr(self._statement, "is_select", False) or bool(compiled.returning)
            found = _Compiled(compiled.string, compiled.positional, tuple(binds), returns_rows)
            self._compiled[key] = found
        return found

    def _libpq_for(self, dialect: Dialect) -> _LibpqStatement | None:
        """The statement for the libpq path, or None when its types do not allow it."""
        key = type(dialect)
        if key in self._libpq:
            return self._libpq[key]
        with self._lock:
            if key not in self._libpq:
                # The same dialect with $1-style parameters, as libpq takes them.
                dialect_class: Any = type(dialect)
                numbered = dialect_class(paramstyle="numeric_dollar")
                compiled = self._statement.compile(dialect=numbered, column_keys=self._keys)
                assert isinstance(compiled, SQLCompiler)
                self._libpq[key] = _LibpqStatement.of(compiled, numbered)
        return self._libpq[key]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run on `conn`'s transaction; the first row returned (RETURNING), or None."""
        if conn.dialect.driver == "psycopg" and conn.connection.driver_connection.autocommit:  # type: ignore[union-attr]
            found = self._first_by_libpq(conn, params)
            if found is not _USE_CURSOR:
                return found  # type: ignore[no-any-return]
        c = self._for(conn.dialect)
        values: list[tuple[str, Any]] = []
        for name, source, constant, processor in c.binds:
            value = params[source] if source is not None else constant
            values.append((name, processor(value) if processor is not None else value))
        args: Any = tuple(v for _, v in values) if c.positional else dict(values)
        if not conn.in_transaction():
            # Begin as Connection.execute would: through SQLAlchemy, so its events run (the
            # SQLite writer lock, BEGIN IMMEDIATE) and commit() has a transaction to end.
            conn.begin()
        cursor = conn.connection.cursor()

        def run() -> tuple[Any, ...] | None:
            try:
                cursor.execute(c.sql, args)
                # Not `if cursor.description`: psycopg builds it per call, and in its
                # pipeline mode it is empty until the results are fetched.
                row = cursor.fetchone() if c.returns_rows else None
            finally:
                cursor.close()
            return tuple(row) if row is not None else None

        found = _guarded(conn, c.sql, run)
        return found  # type: ignore[no-any-return]

    def _first_by_libpq(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """PostgreSQL in autocommit: the first row, None, or `_USE_CURSOR`. Nothing to
        begin: without a transaction each statement commits on its own."""
        statement = self._libpq_for(conn.dialect)
        values = statement.text_values(params) if statement is not None else None
        if statement is None or values is None:
            return _USE_CURSOR
        return _guarded(conn, statement.sql_text, lambda: statement.run(conn, values))


def _guarded(conn: Connection, sql: str, run: Callable[[], Any]) -> Any:
    """`run()`, with driver errors raised as SQLAlchemy's and a lost connection replaced."""
    try:
        return run()
    except conn.dialect.loaded_dbapi.Error as err:
        dbapi_conn = conn.connection.dbapi_connection
        lost = conn.dialect.is_disconnect(err, dbapi_conn, None)
        if lost:
            # As SQLAlchemy does for its own statements: when one connection is lost the
            # others of the pool probably are too (the server restarted or vanished), so
            # the engine starts a new pool rather than hand them out one by one.
            conn.invalidate(err)
            conn.engine.dispose(close=False)
        raise as_sqlalchemy_error(sql, err, conn.dialect, invalidated=lost) from None
    except BaseException:
        # Interrupted mid-statement (a worker timeout, SystemExit): the connection is in an
        # unknown state, so it must not go back to the pool.
        conn.invalidate()
        raise


# -- PostgreSQL in autocommit: named prepared statements through psycopg.pq -----------

_USE_CURSOR = object()  # the libpq path declines this execution: use the cursor
_IDLE, _ACTIVE = pq.TransactionStatus.IDLE, pq.TransactionStatus.ACTIVE
_PIPELINE_OFF = pq.PipelineStatus.OFF
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_TUPLES_OK, _COMMAND_OK = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK
_Loaders = tuple[Callable[[bytes], Any], ...]

# Parameter types declared when preparing, by SQLAlchemy type (first match wins).
_BOOL, _INT8, _FLOAT4, _FLOAT8, _TEXT, _DATE = 16, 20, 700, 701, 25, 1082
_TIMESTAMP, _TIMESTAMPTZ = 1114, 1184
_PARAM_OIDS: tuple[tuple[type[sqltypes.TypeEngine[Any]], int], ...] = (
    (sqltypes.Boolean, _BOOL),
    (sqltypes.Integer, _INT8),  # the server casts to the column's integer type
    (sqltypes.Float, _FLOAT8),
    (sqltypes.Date, _DATE),
    (sqltypes.String, _TEXT),
)


def _text_bool(value: bytes) -> bool:
    return value == b"t"


# Result columns read from text, by type OID; a statement returning another type uses
# the cursor.
_LOADERS: dict[int, Callable[[bytes], Any]] = {
    16: _text_bool,
    20: int,
    21: int,
    23: int,
    25: bytes.decode,  # the connection's client_encoding is checked to be UTF8
    1042: bytes.decode,
    1043: bytes.decode,
    700: float,
    701: float,
}


class _NotText(Exception):
    """A parameter value the text path does not write: the cursor runs the statement."""


def _param_oid(type_: sqltypes.TypeEngine[Any]) -> int | None:
    if isinstance(type_, sqltypes.DateTime):
        return _TIMESTAMPTZ if type_.timezone else _TIMESTAMP
    for cls, oid in _PARAM_OIDS:
        if isinstance(type_, cls):
            return oid
    return None


def _as_text(value: Any, oid: int) -> bytes | None:
    """`value` in PostgreSQL's text input format for a parameter of type `oid`, where it
    means what psycopg's cursor would make of it; otherwise _NotText."""
    if value is None:
        return None
    if isinstance(value, str):
        # libpq ends a text parameter at a NUL; psycopg refuses it with a DataError, and
        # lone surrogates with an encoding error.
        if "\x00" in value:
            raise _NotText
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise _NotText from None
    if isinstance(value, bool):  # before int: True is an int
        if oid != _BOOL:
            raise _NotText  # psycopg would send a boolean for the server to cast
        return b"t" if value else b"f"
    if isinstance(value, int):
        if oid != _INT8:
            raise _NotText  # psycopg would send an integer for the server to cast (or not)
        return int.__repr__(value).encode()  # not str(): an int-based Enum names itself
    if isinstance(value, float):
        if oid not in (_FLOAT8, _FLOAT4):
            raise _NotText
        if math.isfinite(value):
            return float.__repr__(value).encode()
        return b"NaN" if math.isnan(value) else b"Infinity" if value > 0 else b"-Infinity"
    if isinstance(value, datetime):
        # A timestamp without time zone ignores an offset written in its input; psycopg
        # converts an aware value instead.
        if oid not in (_TIMESTAMP, _TIMESTAMPTZ) or (
            value.tzinfo is not None and oid != _TIMESTAMPTZ
        ):
            raise _NotText
        return value.isoformat(" ").encode()
    if isinstance(value, date):
        if oid not in (_DATE, _TIMESTAMP, _TIMESTAMPTZ):
            raise _NotText
        return value.isoformat().encode()
    raise _NotText


class _LibpqStatement:
    """One statement as a named prepared statement, run with psycopg's libpq wrapper."""

    def __init__(
        self,
        sql: str,
        binds: tuple[tuple[str | None, Any, _Processor, int], ...],
    ) -> None:
        self.sql_text = sql
        self.sql = sql.encode()
        self.binds = binds  # (key in the caller's parameters or None, constant, processor, oid)
        self.param_types = [oid for *_, oid in binds]
        # Named by its text and parameter types (a Float and a Boolean parameter compile
        # to the same text): two Prepared with the same name run the same statement.
        digest = hashlib.sha256(self.sql + repr(self.param_types).encode()).hexdigest()
        self.name = b"onetrip_" + digest[:24].encode()
        self.usable: bool | None = None  # False once its results turn out not to be text

    @classmethod
    def of(cls, compiled: SQLCompiler, dialect: Dialect) -> _LibpqStatement | None:
        binds = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            oid = _param_oid(bind.type)
            if oid is None:
                return None
            source = None if bind.value is not None and not bind.required else bind.key
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((source, bind.value, processor, oid))
        return cls(compiled.string, tuple(binds))

    def text_values(self, params: Mapping[str, Any]) -> list[bytes | None] | None:
        """The parameters as text, or None when one is not plainly text: the cursor then
        runs the statement (and says what is wrong with it, if anything)."""
        if self.usable is False:
            return None
        values = []
        try:
            for source, constant, processor, oid in self.binds:
                value = params[source] if source is not None else constant
                values.append(_as_text(processor(value) if processor else value, oid))
        except _NotText:
            return None
        return values

    def run(self, conn: Connection, values: list[bytes | None]) -> Any:
        """The first row, None, or `_USE_CURSOR` when the cursor must run it."""
        fairy = conn.connection
        driver: Any = fairy.driver_connection
        pgconn = driver.pgconn
        if (
            pgconn.transaction_status != _IDLE  # in a transaction or a COPY
            or pgconn.pipeline_status != _PIPELINE_OFF  # in psycopg's pipeline mode
            or pgconn.parameter_status(b"client_encoding") != b"UTF8"  # a session SET it
        ):
            return _USE_CURSOR
        # What this connection has prepared: name -> readers of its result columns, or
        # None when they are not all read here. Cleared with the connection.
        prepared: dict[bytes, _Loaders | None] = fairy.info.setdefault("onetrip_prepared", {})
        for _attempt in range(2):
            if self.name not in prepared:
                prepared[self.name] = self._prepare(driver)
            loaders = prepared[self.name]
            if loaders is None:
                self.usable = False  # a result type not read here: the cursor, from now on
                return _USE_CURSOR
            result = _result(driver, pgconn.send_query_prepared, self.name, values)
            if result.status == _TUPLES_OK:
                if not result.ntuples:
                    return None
                return tuple(
                    None if (v := result.get_value(0, i)) is None else load(v)
                    for i, load in enumerate(loaders)
                )
            if result.status == _COMMAND_OK:
                return None
            error = _error(result)
            if getattr(error, "sqlstate", None) != "26000":  # "prepared statement does not exist"
                raise error
            del prepared[self.name]  # deallocated behind our back (DISCARD ALL): again
        raise error

    def _prepare(self, driver: Any) -> _Loaders | None:
        """Prepare on this connection; the readers of its result columns, or None when
        one of them is of a type not read here."""
        pgconn = driver.pgconn
        result = _result(driver, pgconn.send_prepare, self.name, self.sql, self.param_types)
        # 42P05: prepared already (a describe that failed before we noted it): describe.
        if result.status != _COMMAND_OK and result.error_field(_SQLSTATE) != b"42P05":
            raise _error(result)
        described = _result(driver, pgconn.send_describe_prepared, self.name)
        if described.status != _COMMAND_OK:
            raise _error(described)
        loaders = [_LOADERS.get(described.ftype(i)) for i in range(described.nfields)]
        return None if None in loaders else tuple(loaders)  # type: ignore[arg-type]


def _result(driver: Any, send: Callable[..., None], *args: Any) -> Any:
    """`send(*args)`, then wait for all the command's results, as psycopg does: a
    non-blocking connection polled on its socket, so signals are handled meanwhile.

    The first error result if there is one (in autocommit a commit that fails, say on a
    deferred constraint, reports its error after the rows), else the first result.
    Interrupted while the server works (a worker timeout, a shutdown), it asks the
    server to cancel the statement before the exception goes on, as psycopg does; else
    the statement would run on and commit after its client gave up.
    """
    pgconn = driver.pgconn
    fd = pgconn.socket
    results = []
    try:
        send(*args)
        while pgconn.flush():
            _wait(fd, select.POLLOUT)
        while True:
            # Read only once the socket says there is something: the server needs a
            # while, and on a virtual machine every system call counts.
            while pgconn.is_busy():
                _wait(fd, select.POLLIN)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            results.append(result)
    except (KeyboardInterrupt, SystemExit):
        if pgconn.transaction_status == _ACTIVE:
            # A failed cancel must not hide the interruption the caller has to see.
            with contextlib.suppress(Exception):
                driver.cancel_safe(timeout=5.0)
        raise
    if not results:
        raise pg_errors.OperationalError("the server sent no result")
    for result in results:
        if result.status not in (_TUPLES_OK, _COMMAND_OK):
            return result
    return results[0]


def _wait(fd: int, events: int) -> None:
    poller = select.poll()
    poller.register(fd, events)
    poller.poll()


def _error(result: Any) -> Exception:
    """psycopg's exception for an error result: its class by SQLSTATE, its primary
    message (not the DETAIL, which quotes row values), the constraint's name."""

    def field(code: pq.DiagnosticField) -> str | None:
        value = result.error_field(code)
        return value.decode(errors="replace") if value is not None else None

    sqlstate = field(_SQLSTATE) or ""
    try:
        cls = pg_errors.lookup(sqlstate)
    except KeyError:
        cls = pg_errors.DatabaseError
    error = cls(f"{sqlstate}: {field(pq.DiagnosticField.MESSAGE_PRIMARY)}")
    error.constraint_name = field(pq.DiagnosticField.CONSTRAINT_NAME)  # type: ignore[attr-defined]
    return error


def as_sqlalchemy_error(
    statement: str | None, err: BaseException, dialect: Dialect, *, invalidated: bool = False
) -> BaseException:
    """The SQLAlchemy exception for driver error `err` (IntegrityError for an integrity
    error, and so on), with neither statement parameters nor quoted row values."""
    return DBAPIError.instance(
        statement,
        None,
        terse(err),
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


def terse(err: BaseException) -> BaseException:
    """`err` without PostgreSQL's DETAIL, which quotes row values ("Failing row contains
    (…)", "Key (…)=(…)") and so personal data; other errors are returned unchanged."""
    diag = getattr(err, "diag", None)
    if diag is None or not (diag.message_detail or diag.context):
        return err
    short = type(err)(f"{diag.sqlstate}: {diag.message_primary}")
    short.__traceback__ = err.__traceback__
    short.constraint_name = diag.constraint_name  # type: ignore[attr-defined]
    return short


def violated_constraint(err: DBAPIError) -> str | None:
    """The name of the constraint or unique index that PostgreSQL reports `err` broke."""
    orig = err.orig
    found = getattr(orig, "constraint_name", None)  # set by terse()
    if found is None and getattr(orig, "diag", None) is not None:
        found = orig.diag.constraint_name  # type: ignore[union-attr]
    return found
