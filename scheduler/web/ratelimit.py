"""A small in-process sliding-window rate limiter (per worker; enough against guessing)."""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_KEYS = 100_000  # client addresses remembered at once; idle ones go first


class RateLimiter:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        # key -> (window in seconds, times of the hits inside it)
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, per_s: float, now: float | None = None) -> bool:
        """Record one request under `key`; False when it exceeds `limit` within `per_s`."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            found = self._hits.get(key)
            if found is None:
                if len(self._hits) >= self._max_keys:
                    self._forget(moment)
                found = self._hits[key] = (per_s, deque())
            hits = found[1]
            while hits and hits[0] <= moment - per_s:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(moment)
            return True

    def _forget(self, moment: float) -> None:
        """Make room: drop keys with no hit inside their window, and if every key is
        still active, the half whose last hit is oldest (they are the least likely to
        be refused). The table never outgrows `max_keys`."""
        idle = [
            k for k, (per_s, hits) in self._hits.items() if not hits or hits[-1] <= moment - per_s
        ]
        for k in idle:
            del self._hits[k]
        if len(self._hits) >= self._max_keys:
            by_last = sorted(self._hits, key=lambda k: self._hits[k][1][-1])
            for k in by_last[: len(by_last) // 2 + 1]:
                del self._hits[k]

    def __len__(self) -> int:
        return len(self._hits)
