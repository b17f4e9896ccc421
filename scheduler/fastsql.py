"""Core statements run on the DBAPI cursor of the caller's transaction: the booking hot path.

SQLAlchemy's work per execution (cache key, parameter construction, result set-up) costs
50-100 µs for a 40-column INSERT, several times what SQLite needs to run it, and a
booking runs three such statements. A `Prepared` statement is compiled once per dialect
by SQLAlchemy's own compiler, with the bind processors of the column types, and then
runs straight on the DBAPI connection. The transaction stays SQLAlchemy's: begin (the
SQLite writer lock, BEGIN IMMEDIATE), commit, rollback and pool check-in are unchanged.
Database errors come back as SQLAlchemy exceptions, without parameters in the message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
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


class Prepared:
    """A Core statement, compiled per dialect on first use; `first()` runs it."""

    def __init__(self, statement: ClauseElement, keys: Iterable[str] | None = None) -> None:
        """`keys`: for an INSERT without values(), the columns the parameters carry."""
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._compiled: dict[tuple[type[Dialect], str], _Compiled] = {}
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
            found = _Compiled(compiled.string, compiled.positional, tuple(binds))
            self._compiled[key] = found
        return found

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run on `conn`'s transaction; the first row returned (RETURNING), or None."""
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
        dbapi_conn = conn.connection
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(c.sql, args)
            row = cursor.fetchone() if cursor.description else None
        except conn.dialect.loaded_dbapi.Error as err:
            lost = conn.dialect.is_disconnect(err, dbapi_conn.dbapi_connection, cursor)
            if lost:
                # As SQLAlchemy does for its own statements: when one connection is lost the
                # others of the pool probably are too (the server restarted or vanished),
                # so the engine starts a new pool rather than hand them out one by one.
                conn.invalidate(err)
                conn.engine.dispose(close=False)
            raise as_sqlalchemy_error(c.sql, err, conn.dialect, invalidated=lost) from None
        except BaseException:
            # Interrupted mid-statement (a worker timeout, SystemExit): the connection is in
            # an unknown state, so it must not go back to the pool.
            conn.invalidate()
            raise
        finally:
            cursor.close()
        return tuple(row) if row is not None else None


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
