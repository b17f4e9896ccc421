"""Exact timing of one clerk's visit sequence: when each service can begin, where lunch fits.

For a fixed order of visits the earliest schedule is the best one for every upper bound
(window ends, the shift end, the latest lunch start): serving or pausing earlier never makes
a later step later. The break can sit in four kinds of places, as ``check_plan`` allows:
before leaving (not working time), on any leg (the clerk drives and pauses in either order;
the next service begins after both), or after arriving back. :func:`time_route` tries them
all. Upper bounds are *relaxed*: a schedule that breaks them is still computed, and each
broken bound is reported with the seconds by which it is exceeded, so the same code decides
feasibility (the pre-solve), and measures how far an insertion is from fitting (``explain``).

The working time of a schedule is minimised by leaving as late as possible: the route's end
minus its start never grows when the start moves later, except where a visit falls into a
later window; the latest start that keeps each visit in each of its windows is a candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from routing.model import Problem

BEFORE = -1  # lunch before leaving; ``len(sequence) + 1`` means after arriving back


@dataclass(frozen=True, slots=True)
class RouteTimes:
    """What an engine decided for one clerk: visit order, service starts, break start."""

    clerk: int
    visits: tuple[int, ...]
    start_s: int
    service_starts: tuple[int, ...]
    end_s: int
    lunch_start_s: int | None


@dataclass(frozen=True, slots=True)
class Excess:
    """One upper bound a schedule breaks, by ``seconds``.

    ``code``: ``window`` (service of ``visit_id`` begins after its last window closes),
    ``shift_end`` (arrives back after the shift ends), ``lunch_window`` (the break begins
    after its latest start), ``max_working`` (works longer than ``max_working_s``).
    """

    code: str
    seconds: int
    visit_id: str | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    """A schedule for one clerk's sequence and the bounds it breaks (none: it is feasible)."""

    times: RouteTimes
    excess: tuple[Excess, ...]

    @property
    def feasible(self) -> bool:
        return not self.excess

    @property
    def key(self) -> tuple[int, int]:
        """How far from feasible: bounds broken, then seconds over them."""
        return (len(self.excess), sum(e.seconds for e in self.excess))


def _forward(
    problem: Problem, k: int, sequence: Sequence[int], depart_s: int, lunch_at: int | None
) -> tuple[RouteTimes, list[Excess], tuple[int, ...]]:
    """The earliest schedule leaving at ``depart_s``; ``lunch_at`` a place (see module doc)."""
    clerk = problem.clerks[k]
    lunch = clerk.lunch
    seconds = problem.matrix.seconds
    excess: list[Excess] = []
    lunch_start: int | None = None
    dep = depart_s
    if lunch is not None and lunch_at == BEFORE:
        lunch_start = lunch.earliest_start_s
        dep = max(dep, lunch_start + lunch.duration_s)
    route_start = dep

    def pause(dep: int, ready: int) -> int:
        nonlocal lunch_start
        assert lunch is not None
        lunch_start = max(dep, lunch.earliest_start_s)
        if lunch_start > lunch.latest_start_s:
            excess.append(Excess("lunch_window", lunch_start - lunch.latest_start_s))
        return max(ready, lunch_start) + lunch.duration_s

    point = problem.start_point(k)
    starts: list[int] = []
    used: list[int] = []
    for j, i in enumerate(sequence):
        visit = problem.visits[i]
        nxt = problem.visit_point(i)
        ready = dep + seconds[point][nxt]
        if lunch is not None and lunch_at == j:
            ready = pause(dep, ready)
        windows = visit.windows
        if len(windows) == 1:
            # The common case, inline: one window.
            window = windows[0]
            start = ready if ready > window.start_s else window.start_s
            if start > window.end_s:
                excess.append(Excess("window", start - window.end_s, visit.id))
            used.append(0)
        else:
            found = visit.earliest_start(ready)
            if found is None:
                last = windows[-1]
                start = max(ready, last.start_s)
                excess.append(Excess("window", start - last.end_s, visit.id))
                used.append(len(windows) - 1)
            else:
                start = found
                used.append(next(w for w, tw in enumerate(windows) if tw.contains(start)))
        starts.append(start)
        dep = start + visit.service_s
        point = nxt
    end = dep + seconds[point][problem.end_point(k)]
    n = len(sequence)
    if lunch is not None and lunch_at == n:
        end = pause(dep, end)
    if lunch is not None and lunch_at == n + 1:
        lunch_start = max(end, lunch.earliest_start_s)
        if lunch_start > lunch.latest_start_s:
            excess.append(Excess("lunch_window", lunch_start - lunch.latest_start_s))
    if end > clerk.shift_end_s:
        excess.append(Excess("shift_end", end - clerk.shift_end_s))
    times = RouteTimes(
        clerk=k,
        visits=tuple(sequence),
        start_s=route_start,
        service_starts=tuple(starts),
        end_s=end,
        lunch_start_s=lunch_start,
    )
    return times, excess, tuple(used)


def _no_worse(excess: Sequence[Excess], than: Sequence[Excess]) -> bool:
    limit = {(e.code, e.visit_id): e.seconds for e in than}
    return all(limit.get((e.code, e.visit_id), -1) >= e.seconds for e in excess)


def _latest(problem: Problem, k: int, ok: Callable[[int], bool]) -> int:
    """The latest departure in the shift for which ``ok`` holds (it holds at shift start).

    ``ok`` is monotone: every time of the earliest schedule is non-decreasing in the
    departure, so once a bound is broken (or a later window taken) it stays so.
    """
    clerk = problem.clerks[k]
    lo, hi = clerk.shift_start_s, clerk.shift_end_s
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _placement(
    problem: Problem, k: int, sequence: Sequence[int], lunch_at: int | None, compact: bool
) -> tuple[RouteTimes, list[Excess]]:
    clerk = problem.clerks[k]
    times, excess, used = _forward(problem, k, sequence, clerk.shift_start_s, lunch_at)
    if clerk.max_working_s is None and not compact:
        return times, excess
    max_working_s = clerk.max_working_s
    first = excess

    def keeps(depart_s: int, j: int = -1, w: int = 0) -> bool:
        _, later, later_used = _forward(problem, k, sequence, depart_s, lunch_at)
        return _no_worse(later, first) and (j < 0 or later_used[j] <= w)

    candidates = {_latest(problem, k, keeps)}
    for j, i in enumerate(sequence):
        for w in range(used[j], len(problem.visits[i].windows) - 1):
            candidates.add(_latest(problem, k, _bind(keeps, j, w)))
    best: tuple[RouteTimes, list[Excess]] | None = None
    for depart_s in sorted(candidates):
        later_times, later, _ = _forward(problem, k, sequence, depart_s, lunch_at)
        working = later_times.end_s - later_times.start_s
        if max_working_s is not None and working > max_working_s:
            later.append(Excess("max_working", working - max_working_s))
        if best is None or (_rank(later), working) < (_rank(best[1]), _working(best[0])):
            best = (later_times, later)
    assert best is not None
    return best


def _working(times: RouteTimes) -> int:
    return times.end_s - times.start_s


def _bind(keeps: Callable[[int, int, int], bool], j: int, w: int) -> Callable[[int], bool]:
    return lambda depart_s: keeps(depart_s, j, w)


def _rank(excess: Sequence[Excess]) -> tuple[int, int]:
    return (len(excess), sum(e.seconds for e in excess))


def time_route(
    problem: Problem, k: int, sequence: Sequence[int], *, compact: bool = False
) -> Timing:
    """The schedule of clerk ``k`` serving ``sequence`` (visit indices) that breaks least.

    Exact: the sequence can be served by the clerk (every window, the shift, the break and
    the working-time bound kept) if and only if the result is :attr:`Timing.feasible`.
    With ``compact``, of the schedules that break least the one with the least working
    time (leave as late as possible, lunch where it costs least). Visit counts, capacity,
    skills and pins are not looked at here.
    """
    clerk = problem.clerks[k]
    places: list[int | None] = [None]
    if clerk.lunch is not None and sequence:
        places = [BEFORE, *range(len(sequence) + 2)]
    best: Timing | None = None
    for lunch_at in places:
        times, excess = _placement(problem, k, sequence, lunch_at, compact)
        timing = Timing(times, tuple(excess))
        if compact:
            if best is None or (timing.key, _working(times)) < (best.key, _working(best.times)):
                best = timing
        elif best is None or timing.key < best.key:
            best = timing
            if best.feasible:
                break
    assert best is not None
    return best
