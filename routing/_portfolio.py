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
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Modules a worker imports before it reports ready: every engine a race may send it.
WARM_MODULES = ("routing._ortools", "routing._vroom", "routing._pyvrp")

# How long to wait for a worker to pick up its job before searching here anyway.
PICKUP_TIMEOUT_S = 60.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = 0
# The pool's semaphore, released by each job as it begins. A semaphore, not a queue: a
# queue's put is flushed by a feeder thread, which cannot run while the engine holds the
# GIL, so the caller would hear of the start only when the worker's search had ended.
_started: Any = None
_worker_started: Any = None  # the same semaphore, inside a worker
_began_at = 0.0


def _init_worker(started: Any) -> None:
    global _worker_started
    _worker_started = started


def _run_job(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """In a worker: report that the job began (the caller's search waits for this), run it."""
    global _began_at
    _began_at = time.monotonic()
    _worker_started.release()
    return fn(*args)


def began_at() -> float:
    """In a worker: the monotonic time at which its current job reported its start."""
    return _began_at


def _warm_up() -> int:
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):  # an optional engine that is not installed
            importlib.import_module(name)
    return multiprocessing.current_process().pid or 0


def _ready_pool(workers: int) -> tuple[ProcessPoolExecutor, Any]:
    """A pool of at least ``workers`` started, warmed-up processes."""
    global _pool, _size, _started
    with _lock:
        if _pool is not None and _size < workers:
            _pool.shutdown(wait=True)
            _pool = None
        if _pool is None:
            context = multiprocessing.get_context("spawn")
            _started = context.Semaphore(0)
            _pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(_started,)
            )
            _size = workers
        pool, started = _pool, _started
    # One warm-up task per worker: each spawns a process (3.11 spawns on demand) and waits
    # until it has imported the engines.
    pids = {f.result() for f in [pool.submit(_warm_up) for _ in range(_size)]}
    log.debug("routing workers ready: %s", sorted(pids))
    return pool, started


def prepare(workers: int = 1) -> None:
    """Start ``workers`` warm worker processes now, unless they are running already.

    For a caller whose clock must not include the start-up (AutoSolver reads its clock after
    this); a pool that cannot start is logged here and reported again by the search.
    """
    try:
        _ready_pool(workers)
    except (BrokenProcessPool, OSError) as exc:
        log.warning("routing workers could not start: %s", exc)
        shutdown()


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

    The workers are started and warm before any search begins, and ``local`` starts only
    once every worker has picked up its job: the engines hold the GIL while they search, so
    a job still waiting in this process's feeder thread would otherwise start only after
    ``local`` had finished. Returns the results in
    order ``[local, *remote]``; a search that raised (or whose worker died) is returned as
    its exception and logged, so one failing engine never discards another's plan.
    """
    futures: list[Future[T]] | BaseException = []
    if remote:
        futures = _submit(remote)
    first: T | BaseException = _call(local)
    return [first, *_collect(futures, len(remote))]


def remote(fn: Callable[..., T], args: tuple[Any, ...]) -> T | BaseException:
    """Run one search in a warm worker process and wait for it; its exception if it fails.

    For a search that must run *before* this process's own (AutoSolver runs VROOM first):
    the engine gets a warmed-up process of its own, and a crash cannot take this one down.
    """
    return _collect(_submit([(fn, args)]), 1)[0]


def _submit(
    remote: Sequence[tuple[Callable[..., T], tuple[Any, ...]]],
) -> list[Future[T]] | BaseException:
    """Hand each job to a warm worker and wait until every one has begun."""
    try:
        pool, started = _ready_pool(len(remote))
        futures = [pool.submit(_run_job, fn, args) for fn, args in remote]
        for _ in remote:
            if not started.acquire(timeout=PICKUP_TIMEOUT_S):
                raise TimeoutError("a routing worker did not pick up its job")
    except (BrokenProcessPool, OSError) as exc:
        log.warning("routing workers could not start: %s", exc)
        shutdown()
        return exc
    return futures


def _collect(futures: list[Future[T]] | BaseException, count: int) -> list[T | BaseException]:
    if isinstance(futures, BaseException):
        return [futures for _ in range(count)]
    results: list[T | BaseException] = []
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
