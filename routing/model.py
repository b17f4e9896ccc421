"""The routing contract: problems in, plans out; integers inside (seconds, metres, fen).

Times are seconds from plan-day midnight. A time window says when service may *begin*,
both ends inclusive. Distances are metres, durations seconds, money fen (0.01 yuan).

Points of a :class:`Problem` are indexed as ``[clerk starts..., clerk ends..., visits...]``:
clerk ``k`` starts at point ``k`` and ends at point ``K + k`` (``K`` clerks), visit ``i`` is
point ``2K + i``. ``Problem.matrix`` is a :class:`~routing.travel.TravelMatrix` over exactly
those points; :func:`build_problem` asks a travel model for it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from routing.geo import LatLon
from routing.travel import TravelMatrix, TravelModel

DAY_S = 24 * 3600
MAX_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """When service may begin: seconds from plan-day midnight, both ends inclusive."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"bad time window {self.start_s}..{self.end_s}")

    def contains(self, t_s: int) -> bool:
        return self.start_s <= t_s <= self.end_s


@dataclass(frozen=True, slots=True)
class Visit:
    """One home visit: where, how long, when it may begin, and who may do it.

    ``priority`` is 0 (normal) to 10; a higher priority costs more to leave unserved, so
    urgent visits are served first. ``clerk_id`` pins the visit to one clerk. ``deferrable``
    visits may move to another day and are dropped before the others when a day is full.
    ``demand`` is counted against a clerk's ``capacity`` (documents, parcels); 0 by default.
    """

    id: str
    location: LatLon
    service_s: int
    windows: tuple[TimeWindow, ...]
    skill: str | None = None
    priority: int = 0
    clerk_id: str | None = None
    deferrable: bool = False
    demand: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("visit id must not be empty")
        if self.service_s < 0:
            raise ValueError(f"visit {self.id}: service_s must be >= 0, got {self.service_s}")
        if not self.windows:
            raise ValueError(f"visit {self.id}: at least one time window is required")
        for before, after in zip(self.windows, self.windows[1:], strict=False):
            if after.start_s <= before.end_s:
                raise ValueError(f"visit {self.id}: time windows must be sorted and disjoint")
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValueError(
                f"visit {self.id}: priority must be in 0..{MAX_PRIORITY}, got {self.priority}"
            )
        if self.demand < 0:
            raise ValueError(f"visit {self.id}: demand must be >= 0, got {self.demand}")
        if self.skill == "":
            raise ValueError(f"visit {self.id}: skill must be None or a non-empty name")

    def earliest_start(self, t_s: int) -> int | None:
        """The first time at or after ``t_s`` at which service may begin, or None."""
        for window in self.windows:
            if t_s <= window.end_s:
                return max(t_s, window.start_s)
        return None

    def may_start(self, t_s: int) -> bool:
        return any(window.contains(t_s) for window in self.windows)


@dataclass(frozen=True, slots=True)
class Break:
    """A break of ``duration_s`` inside ``[earliest_start_s, latest_end_s]`` (start and end).

    The clerk may take it anywhere on the route: before leaving, between two visits (also on
    the road, which then takes that much longer) or after coming back.
    """

    duration_s: int
    earliest_start_s: int
    latest_end_s: int

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"break duration_s must be > 0, got {self.duration_s}")
        if self.earliest_start_s < 0 or self.earliest_start_s + self.duration_s > self.latest_end_s:
            raise ValueError(
                f"break of {self.duration_s} s does not fit "
                f"{self.earliest_start_s}..{self.latest_end_s}"
            )

    @property
    def latest_start_s(self) -> int:
        return self.latest_end_s - self.duration_s

    @property
    def earliest_end_s(self) -> int:
        return self.earliest_start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Clerk:
    """A visiting clerk's day: places, shift, break, skills, limits and costs.

    The shift bounds leaving the start (``shift_start_s`` at the earliest) and arriving at
    the end (``shift_end_s`` at the latest). ``max_working_s`` bounds the working time, from
    leaving the start to arriving at the end (a break inside counts). Costs are fen per hour
    of working time and fen per kilometre driven.
    """

    id: str
    start: LatLon
    end: LatLon
    shift_start_s: int
    shift_end_s: int
    skills: frozenset[str] = frozenset()
    lunch: Break | None = None
    max_visits: int | None = None
    max_working_s: int | None = None
    capacity: int | None = None
    cost_per_hour_fen: int = 0
    cost_per_km_fen: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("clerk id must not be empty")
        if not 0 <= self.shift_start_s <= self.shift_end_s:
            raise ValueError(f"clerk {self.id}: bad shift {self.shift_start_s}..{self.shift_end_s}")
        if self.lunch is not None and not (
            self.shift_start_s <= self.lunch.earliest_start_s
            and self.lunch.latest_end_s <= self.shift_end_s
        ):
            raise ValueError(f"clerk {self.id}: the break window must lie inside the shift")
        for name in ("max_visits", "max_working_s", "capacity"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"clerk {self.id}: {name} must be >= 0, got {value}")
        if self.cost_per_hour_fen < 0 or self.cost_per_km_fen < 0:
            raise ValueError(f"clerk {self.id}: costs must be >= 0")
        if any(not skill for skill in self.skills):
            raise ValueError(f"clerk {self.id}: skill names must not be empty")

    def can_do(self, visit: Visit) -> bool:
        """Skill and pin allow this clerk to make the visit."""
        if visit.clerk_id is not None and visit.clerk_id != self.id:
            return False
        return visit.skill is None or visit.skill in self.skills


@dataclass(frozen=True, slots=True)
class Problem:
    """Visits, clerks and the travel matrix over ``[starts..., ends..., visits...]``."""

    visits: tuple[Visit, ...]
    clerks: tuple[Clerk, ...]
    matrix: TravelMatrix

    def __post_init__(self) -> None:
        if not self.clerks:
            raise ValueError("a problem needs at least one clerk")
        expected = 2 * len(self.clerks) + len(self.visits)
        if self.matrix.size != expected:
            raise ValueError(
                f"travel matrix has {self.matrix.size} points, expected {expected} "
                f"(2 x {len(self.clerks)} clerk places + {len(self.visits)} visits)"
            )
        visit_ids = [visit.id for visit in self.visits]
        if len(set(visit_ids)) != len(visit_ids):
            raise ValueError("visit ids must be unique")
        clerk_ids = {clerk.id for clerk in self.clerks}
        if len(clerk_ids) != len(self.clerks):
            raise ValueError("clerk ids must be unique")
        for visit in self.visits:
            if visit.clerk_id is not None and visit.clerk_id not in clerk_ids:
                raise ValueError(f"visit {visit.id} is pinned to unknown clerk {visit.clerk_id}")

    @property
    def num_clerks(self) -> int:
        return len(self.clerks)

    def start_point(self, k: int) -> int:
        return k

    def end_point(self, k: int) -> int:
        return len(self.clerks) + k

    def visit_point(self, i: int) -> int:
        return 2 * len(self.clerks) + i

    def points(self) -> list[LatLon]:
        """The points the matrix is over, in matrix order."""
        return points_of(self.visits, self.clerks)

    def visit_index(self) -> dict[str, int]:
        return {visit.id: i for i, visit in enumerate(self.visits)}

    def clerk_index(self) -> dict[str, int]:
        return {clerk.id: k for k, clerk in enumerate(self.clerks)}


def points_of(visits: Sequence[Visit], clerks: Sequence[Clerk]) -> list[LatLon]:
    return (
        [clerk.start for clerk in clerks]
        + [clerk.end for clerk in clerks]
        + [visit.location for visit in visits]
    )


def build_problem(visits: Sequence[Visit], clerks: Sequence[Clerk], travel: TravelModel) -> Problem:
    """A problem whose matrix the travel model computed over the problem's points."""
    return Problem(tuple(visits), tuple(clerks), travel.matrix(points_of(visits, clerks)))


# Every total of the objective must fit OR-Tools' int64 with room for its own sums.
OBJECTIVE_LIMIT = 10**18


@dataclass(frozen=True, slots=True)
class ObjectiveWeights:
    """The explicit weights of the objective, in points (integers).

    objective = Σ unserved visits penalty(visit)
              + Σ clerks working_s × (``working_s`` + 5 × ``cost_per_hour_fen``)
              + Σ clerks distance_m × (``distance_m`` + 18 × ``cost_per_km_fen``)
              + ``balance`` × (latest route end − earliest route start)
              + ``changed_clerk`` × visits served by another clerk than in the previous plan

    With ``lexicographic`` (the default) the penalties are derived from the problem by
    :func:`visit_penalties` so that, in this order: no plan leaves a higher-priority visit
    unserved to serve any number of lower-priority ones; then as many visits as possible;
    then must-do-today visits before deferrable ones; then least cost (working time,
    distance, disruption), then balance. Without it the penalty is
    ``unserved + priority × per_priority (+ not_deferrable)``, which trades priorities
    against counts.

    One point is 1/18000 fen, so money costs enter exactly (a fen per hour is 5 points per
    second; a fen per km is 18 points per metre). ``changed_clerk`` defaults to the
    working-time cost of 30 minutes: a re-plan moves a visit to another clerk only when
    that saves more than half an hour of working time (or serves more visits).
    """

    unserved: int = 10**11
    per_priority: int = 10**11
    not_deferrable: int = 5 * 10**10
    working_s: int = 10
    distance_m: int = 1
    balance: int = 1
    changed_clerk: int = 10 * 1800
    lexicographic: bool = True

    def __post_init__(self) -> None:
        for name in (
            "unserved",
            "per_priority",
            "not_deferrable",
            "working_s",
            "distance_m",
            "balance",
            "changed_clerk",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0")

    def penalty(self, visit: Visit) -> int:
        """The non-lexicographic penalty of leaving ``visit`` unserved."""
        extra = 0 if visit.deferrable else self.not_deferrable
        return self.unserved + visit.priority * self.per_priority + extra

    def working_coefficient(self, clerk: Clerk) -> int:
        return self.working_s + 5 * clerk.cost_per_hour_fen

    def distance_coefficient(self, clerk: Clerk) -> int:
        return self.distance_m + 18 * clerk.cost_per_km_fen


def route_cost_bound(problem: Problem, weights: ObjectiveWeights) -> int:
    """More than the routing part of the objective of any plan of ``problem``.

    Working time is at most each shift; a plan drives at most ``N + K`` legs, none longer
    than the longest matrix entry; every visit may change clerk.
    """
    longest_m = max((max(row) for row in problem.matrix.metres if row), default=0)
    legs = len(problem.visits) + len(problem.clerks)
    horizon = max(clerk.shift_end_s for clerk in problem.clerks)
    working = sum(
        weights.working_coefficient(c) * (c.shift_end_s - c.shift_start_s) for c in problem.clerks
    )
    distance = max(weights.distance_coefficient(c) for c in problem.clerks) * legs * longest_m
    return (
        working
        + distance
        + weights.balance * horizon
        + weights.changed_clerk * len(problem.visits)
        + 1
    )


def visit_penalties(problem: Problem, weights: ObjectiveWeights) -> tuple[int, ...]:
    """The cost of leaving each visit of ``problem`` unserved, in visit order.

    Lexicographic: ``u`` exceeds any plan's routing cost; a must-do visit adds ``u``; a
    visit of the lowest priority present costs ``V = (M + 1) u`` (``M`` must-do visits), so
    one more visit served outweighs every must-do extra; each higher priority level costs
    more than all lower levels' penalties together. Raises ``ValueError`` when that does
    not fit :data:`OBJECTIVE_LIMIT` (then pass ``lexicographic=False`` weights).
    """
    visits = problem.visits
    if not weights.lexicographic:
        return tuple(weights.penalty(visit) for visit in visits)
    unit = route_cost_bound(problem, weights)
    for must_refined in (True, False):
        musts = sum(1 for v in visits if not v.deferrable) if must_refined else 0
        extra = unit if must_refined else 0
        base: dict[int, int] = {}
        total = 0
        for level in sorted({v.priority for v in visits}):
            base[level] = max((musts + 1) * unit, total + musts * extra + unit)
            total += base[level] * sum(1 for v in visits if v.priority == level)
        if total + musts * extra + unit <= OBJECTIVE_LIMIT:
            return tuple(base[v.priority] + (0 if v.deferrable else extra) for v in visits)
    raise ValueError(
        f"{len(visits)} visits over {len({v.priority for v in visits})} priority levels do "
        "not fit a lexicographic objective in 64 bits: pass ObjectiveWeights(lexicographic=False)"
    )


class Reason(enum.Enum):
    """Why a visit is not in any route."""

    NO_SKILL = "no_skill"
    OUTSIDE_SHIFTS = "outside_shifts"
    UNREACHABLE_IN_WINDOW = "unreachable_in_window"
    OVER_CAPACITY = "over_capacity"
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A visit left out of every route, with a reason code and a Chinese explanation."""

    visit_id: str
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Stop:
    """One visit on a route.

    ``travel_s``/``travel_m`` are from the previous point (the start or the previous visit).
    ``arrival_s`` is when the clerk gets there; ``waiting_s`` the idle time before service
    begins at ``start_s`` (a break taken on this leg is not waiting);
    ``departure_s`` = ``start_s`` + service.
    """

    visit_id: str
    arrival_s: int
    start_s: int
    departure_s: int
    travel_s: int
    travel_m: int
    waiting_s: int


@dataclass(frozen=True, slots=True)
class BreakTaken:
    """The break as planned: ``after_stops`` visits are finished before it starts."""

    start_s: int
    duration_s: int
    after_stops: int

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Route:
    """One clerk's day: leave the start at ``start_s``, arrive at the end at ``end_s``."""

    clerk_id: str
    start_s: int
    stops: tuple[Stop, ...]
    end_s: int
    end_travel_s: int
    end_travel_m: int
    end_waiting_s: int
    lunch: BreakTaken | None = None

    @property
    def travel_s(self) -> int:
        return sum(stop.travel_s for stop in self.stops) + self.end_travel_s

    @property
    def travel_m(self) -> int:
        return sum(stop.travel_m for stop in self.stops) + self.end_travel_m

    @property
    def waiting_s(self) -> int:
        return sum(stop.waiting_s for stop in self.stops) + self.end_waiting_s

    @property
    def working_s(self) -> int:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Routes (one per clerk who works) and the visits no route serves."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    objective: int
    engine: str = field(default="", compare=False)
    changed_clerk: int | None = field(default=None, compare=False)
    """Visits served by another clerk than in the plan this one re-planned (None: no previous)."""

    @property
    def travel_s(self) -> int:
        return sum(route.travel_s for route in self.routes)

    @property
    def travel_m(self) -> int:
        return sum(route.travel_m for route in self.routes)

    @property
    def waiting_s(self) -> int:
        return sum(route.waiting_s for route in self.routes)

    @property
    def working_s(self) -> int:
        return sum(route.working_s for route in self.routes)

    @property
    def served(self) -> int:
        return sum(len(route.stops) for route in self.routes)

    def clerk_of(self) -> dict[str, str]:
        """Visit id -> the clerk who serves it, for every routed visit."""
        return {stop.visit_id: route.clerk_id for route in self.routes for stop in route.stops}


def changed_clerk_ids(previous: RoutePlan, plan: RoutePlan) -> tuple[str, ...]:
    """Visits served in both plans, by another clerk in ``plan`` than in ``previous``."""
    before = previous.clerk_of()
    return tuple(
        visit_id
        for visit_id, clerk_id in plan.clerk_of().items()
        if visit_id in before and before[visit_id] != clerk_id
    )


def count_changed_clerks(previous: RoutePlan, plan: RoutePlan) -> int:
    """How many visits changed clerk from ``previous`` to ``plan``."""
    return len(changed_clerk_ids(previous, plan))
