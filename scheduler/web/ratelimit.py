"""Rate limits counted in the database, so that every worker process shares one count.

A sliding window estimated from two fixed ones (this minute's count plus the share of
the last minute's that still falls inside the window): exact enough against guessing,
and one upsert plus one read per request.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from flask import request
from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from scheduler.models import RateCount

_COUNTS: Table = RateCount.__table__  # type: ignore[assignment]
SWEEP_EVERY = 500  # hits of a process between deletions of finished windows
MAX_KEY = 120


class RateLimiter:
    def __init__(self, write_engine: Engine, single_statement_engine: Engine) -> None:
        # SQLite: the write engine (BEGIN IMMEDIATE under the writer lock). PostgreSQL:
        # the autocommit engine: the upsert is atomic by itself.
        self._engine = (
            single_statement_engine
            if single_statement_engine.dialect.name == "postgresql"
            else write_engine
        )
        dialect: Any = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        ins = dialect.insert(_COUNTS)
        self._upsert = ins.on_conflict_do_update(
            index_elements=[_COUNTS.c.key, _COUNTS.c.window_start],
            set_={"hits": _COUNTS.c.hits + 1},
        ).returning(_COUNTS.c.hits)
        self._hits = itertools.count(1)
        self.clock: Callable[[], float] = time.time

    def hit(self, key: str, limit: int, per_s: int) -> bool:
        """Count one request under `key`; False when it goes over `limit` per `per_s`."""
        now = self.clock()
        window = int(now // per_s) * per_s
        key = key[:MAX_KEY]
        with self._engine.connect() as conn:
            hits = conn.execute(
                self._upsert, {"key": key, "window_start": window, "hits": 1}
            ).scalar_one()
            before = conn.execute(
                select(_COUNTS.c.hits).where(
                    _COUNTS.c.key == key, _COUNTS.c.window_start == window - per_s
                )
            ).scalar()
            if next(self._hits) % SWEEP_EVERY == 0:
                horizon = int(now) - max(2 * per_s, 3600)
                conn.execute(delete(_COUNTS).where(_COUNTS.c.window_start < horizon))
            conn.commit()
        overlap = 1.0 - (now - window) / per_s  # share of the last window still inside
        return int(hits) + int(before or 0) * overlap <= limit

    def sweep(self, *, older_than_s: int = 3600) -> None:
        """Delete counts of windows that ended long ago."""
        with self._engine.connect() as conn:
            conn.execute(
                delete(_COUNTS).where(_COUNTS.c.window_start < self.clock() - older_than_s)
            )
            conn.commit()


def client_key(bucket: str) -> str:
    """The bucket of this request's client: its address as ProxyFix leaves it (the
    client's, behind the configured number of trusted proxies)."""
    return f"{bucket}:{request.remote_addr or '-'}"
