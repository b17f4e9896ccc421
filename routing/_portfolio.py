"""Searches raced in worker processes: the one place that runs engines in parallel.

Worker processes are *spawned* (fork is unsafe with the engines' threads) and kept warm
between calls: starting one and importing the engines takes 1–2 s, which would otherwise
come out of the first search's time. Callers pass durations, never deadlines, and a
worker's time limit starts when it receives its job, so every engine in a race gets the
same search time. A search that fails is reported as its exception; the others still
count (:func:`race`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Modules a worker imports before it reports ready: every engine a race may send it.
WARM_MODULES = ("routing._ortools", "routing._vroom", "routing._pyvrp")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = 0


def _warm_up() -> int:
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):  # an optional engine that is not installed
            importlib.import_module(name)
    return multiprocessing.current_process().pid or 0


def _ready_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of at least ``workers`` started, warmed-up processes."""
    global _pool, _size
    with _lock:
        if _pool is not None and _size < workers:
            _pool.shutdown(wait=True)
            _pool = None
        if _pool is None:
            _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            _size = workers
        pool = _pool
    # One warm-up task per worker: each spawns a process (3.11 spawns on demand) and waits
    # until it has imported the engines.
    pids = {f.result() for f in [pool.submit(_warm_up) for _ in range(_size)]}
    log.debug("routing workers ready: %s", sorted(pids))
    return pool


def shutdown() -> None:
    """Stop the warm worker processes (they are also stopped at interpreter exit)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


atexit.register(shutdown)


def race(
    local: Callable[[], T],
    remote: Sequence[tuple[Callable[..., T], tuple[Any, ...]]],
) -> list[T | BaseException]:
    """Run ``local`` here and each ``(function, args)`` of ``remote`` in a worker process.

    The workers are started and warm before any search begins. Returns the results in
    order ``[local, *remote]``; a search that raised (or whose worker died) is returned as
    its exception and logged, so one failing engine never discards another's plan.
    """
    futures: list[Future[T]] = []
    if remote:
        try:
            pool = _ready_pool(len(remote))
            futures = [pool.submit(fn, *args) for fn, args in remote]
        except (BrokenProcessPool, OSError) as exc:
            log.warning("routing workers could not start: %s", exc)
            shutdown()
            results_failed: list[T | BaseException] = [exc for _ in remote]
            return [_call(local), *results_failed]
    results: list[T | BaseException] = [_call(local)]
    for future in futures:
        try:
            results.append(future.result())
        except BrokenProcessPool as exc:
            log.warning("a routing worker died: %s", exc)
            shutdown()
            results.append(exc)
        except Exception as exc:  # reported to the caller as data
            log.warning("a routing search failed in a worker: %r", exc)
            results.append(exc)
    return results


def _call(fn: Callable[[], T]) -> T | BaseException:
    try:
        return fn()
    except Exception as exc:  # reported to the caller as data
        log.warning("a routing search failed: %r", exc)
        return exc


def succeeded(results: Sequence[T | BaseException]) -> list[T]:
    """The results that are not exceptions; raise the first exception if all failed."""
    good = [r for r in results if not isinstance(r, BaseException)]
    if not good:
        first = results[0]
        assert isinstance(first, BaseException)
        raise first
    return good
