"""Rate limits counted in the database, so that every worker process shares one count.

Fixed windows (as Flask-Limiter's default strategy): each request adds one to the count
of its key and window with one upsert and is refused when the count goes over the limit.
A client can at most double the limit across a window boundary, which is enough against
guessing. (No Flask here: `scheduler.web.ratelimit` keys the counts by client address.)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from scheduler.models import RateCount

_COUNTS: Table = RateCount.__table__  # type: ignore[assignment]
SWEEP_EVERY = 1000  # hits of a process between deletions of finished windows
MAX_KEY = 120
_SWEEP = delete(_COUNTS).where(_COUNTS.c.window_start < bindparam("before"))


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
        self._upsert = (
            dialect.insert(_COUNTS)
            .values(key=bindparam("k"), window_start=bindparam("w"), hits=1)
            .on_conflict_do_update(
                index_elements=[_COUNTS.c.key, _COUNTS.c.window_start],
                set_={"hits": _COUNTS.c.hits + 1},
            )
            .returning(_COUNTS.c.hits)
        )
        self._hits = itertools.count(1)
        self.clock: Callable[[], float] = time.time

    def hit(self, key: str, limit: int, per_s: int) -> bool:
        """Count one request under `key`; False when it goes over `limit` per `per_s`.
        Refused requests count too: a client that keeps trying stays refused."""
        now = self.clock()
        window = int(now // per_s) * per_s
        with self._engine.connect() as conn:
            hits = conn.execute(self._upsert, {"k": key[:MAX_KEY], "w": window}).scalar_one()
            if next(self._hits) % SWEEP_EVERY == 0:
                conn.execute(_SWEEP, {"before": int(now) - max(2 * per_s, 3600)})
            conn.commit()
        return int(hits) <= limit

    def sweep(self, *, older_than_s: int = 3600) -> None:
        """Delete counts of windows that ended long ago."""
        with self._engine.connect() as conn:
            conn.execute(_SWEEP, {"before": int(self.clock()) - older_than_s})
            conn.commit()
