"""A small in-process sliding-window rate limiter (per worker; enough against guessing)."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, per_s: float, now: float | None = None) -> bool:
        """Record one request under `key`; False when it exceeds `limit` within `per_s`."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= moment - per_s:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(moment)
            if len(self._hits) > 100_000:  # forget idle clients rather than grow without bound
                for k in [k for k, v in self._hits.items() if not v][:50_000]:
                    del self._hits[k]
            return True
