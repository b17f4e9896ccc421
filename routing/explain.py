"""Why a visit is unassigned, clerk by clerk, and the smallest change that would fit it.

For every unassigned visit and every clerk, each place in the clerk's route is tried: the
route with the visit inserted there is timed exactly (:func:`routing.timing.time_route`),
every bound it breaks is measured, and the cheapest insertion is kept — fewest changes,
then fewest minutes. A change (:class:`Relaxation`) is concrete: give the clerk a skill,
one more visit or more capacity, extend the shift, the working time or the lunch window,
or let a visit's window end later, by whole minutes. Nothing is claimed that has not been
verified: every proposed fix is applied to the problem (:func:`apply_fix`), the visit is
inserted (:func:`insert`), and the resulting plan must pass ``check_plan``; a fix that does
not is not proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing.check import check_route
from routing.model import Break, Problem, Reason, RoutePlan, TimeWindow
from routing.solver import make_route
from routing.timing import Timing, time_route

MINUTE = 60

# Relaxation kinds, with the Chinese wording a dispatcher reads.
ADD_SKILL = "add_skill"
MORE_VISITS = "more_visits"
MORE_CAPACITY = "more_capacity"
LATER_SHIFT_END = "later_shift_end"
LONGER_WORKING = "longer_working"
LATER_LUNCH = "later_lunch"
LATER_WINDOW = "later_window"


@dataclass(frozen=True, slots=True)
class Relaxation:
    """One change to the problem: ``kind`` on ``clerk_id`` (or ``visit_id``) by ``amount``.

    ``amount`` is seconds for the time kinds (whole minutes), a count for ``more_visits``
    and ``more_capacity``; ``skill`` names the skill of ``add_skill``.
    """

    kind: str
    clerk_id: str
    amount: int = 0
    visit_id: str | None = None
    skill: str | None = None

    @property
    def minutes(self) -> int:
        return self.amount // MINUTE

    def message(self) -> str:
        """The change, in words for a dispatcher."""
        who = f"办事员「{self.clerk_id}」"
        if self.kind == ADD_SKILL:
            return f"{who}具备「{self.skill}」技能"
        if self.kind == MORE_VISITS:
            return f"{who}的当日上门次数上限增加 {self.amount} 次"
        if self.kind == MORE_CAPACITY:
            return f"{who}的携带量上限增加 {self.amount}"
        if self.kind == LATER_SHIFT_END:
            return f"{who}的班次结束时间推迟 {self.minutes} 分钟"
        if self.kind == LONGER_WORKING:
            return f"{who}的最长工作时间增加 {self.minutes} 分钟"
        if self.kind == LATER_LUNCH:
            return f"{who}的午休最晚开始时间推迟 {self.minutes} 分钟"
        return f"上门「{self.visit_id}」的预约时段结束时间推迟 {self.minutes} 分钟"


@dataclass(frozen=True, slots=True)
class Insertion:
    """The best place to insert the visit into one clerk's route, and what stops it.

    ``position`` is how many of the clerk's current stops come before the visit (None if
    no place was tried: the visit is pinned to another clerk). ``binding`` are the changes
    that would make that insertion feasible, smallest first; empty means it fits as it is.
    ``verified`` says that inserting with those changes was checked clean by ``check_plan``.
    """

    clerk_id: str
    position: int | None
    binding: tuple[Relaxation, ...]
    verified: bool
    message: str

    @property
    def cost(self) -> tuple[int, int]:
        """How big the fix is: changes, then minutes (counts weigh one minute each)."""
        return (len(self.binding), sum(_size(r) for r in self.binding))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one visit is unassigned: code, a Chinese message, every clerk's best insertion,
    and the smallest verified fix (clerk, position, changes), if any."""

    visit_id: str
    reason: Reason
    message: str
    insertions: tuple[Insertion, ...]
    fix: Insertion | None


def _size(relaxation: Relaxation) -> int:
    if relaxation.kind in (MORE_VISITS, MORE_CAPACITY, ADD_SKILL):
        return 1
    return relaxation.minutes


def _minutes_up(seconds: int) -> int:
    return -(-seconds // MINUTE) * MINUTE


def explain(problem: Problem, plan: RoutePlan) -> tuple[Explanation, ...]:
    """One :class:`Explanation` per unassigned visit of ``plan``, in the plan's order."""
    out: list[Explanation] = []
    index = problem.visit_index()
    for item in plan.unassigned:
        i = index[item.visit_id]
        insertions = tuple(_best_insertion(problem, plan, i, k) for k in range(len(problem.clerks)))
        fixes = [ins for ins in insertions if ins.verified]
        fix = min(fixes, key=lambda ins: ins.cost) if fixes else None
        out.append(
            Explanation(
                visit_id=item.visit_id,
                reason=item.reason,
                message=_message(item.message, fix),
                insertions=insertions,
                fix=fix,
            )
        )
    return tuple(out)


def _message(reason_message: str, fix: Insertion | None) -> str:
    if fix is None:
        return f"{reason_message}。没有找到能安排此次上门的调整办法。"
    where = "排在第 1 站" if fix.position == 0 else f"排在第 {fix.position} 站之后"
    if not fix.binding:
        return f"{reason_message}。可直接由办事员「{fix.clerk_id}」{where}办理。"
    changes = "，并且".join(r.message() for r in fix.binding)
    return f"{reason_message}。最小的调整：{changes}，即可由办事员「{fix.clerk_id}」{where}办理。"


def _route_sequence(problem: Problem, plan: RoutePlan, k: int) -> list[int]:
    index = problem.visit_index()
    clerk_id = problem.clerks[k].id
    for route in plan.routes:
        if route.clerk_id == clerk_id:
            return [index[stop.visit_id] for stop in route.stops]
    return []


def _best_insertion(problem: Problem, plan: RoutePlan, i: int, k: int) -> Insertion:
    clerk = problem.clerks[k]
    visit = problem.visits[i]
    if visit.clerk_id is not None and visit.clerk_id != clerk.id:
        return Insertion(clerk.id, None, (), False, f"此次上门指定由办事员「{visit.clerk_id}」办理")
    base: list[Relaxation] = []
    if visit.skill is not None and visit.skill not in clerk.skills:
        base.append(Relaxation(ADD_SKILL, clerk.id, skill=visit.skill))
    sequence = _route_sequence(problem, plan, k)
    if clerk.max_visits is not None and len(sequence) + 1 > clerk.max_visits:
        base.append(Relaxation(MORE_VISITS, clerk.id, len(sequence) + 1 - clerk.max_visits))
    load = sum(problem.visits[j].demand for j in sequence) + visit.demand
    if clerk.capacity is not None and load > clerk.capacity:
        base.append(Relaxation(MORE_CAPACITY, clerk.id, load - clerk.capacity))
    best: Insertion | None = None
    for position in range(len(sequence) + 1):
        trial = [*sequence[:position], i, *sequence[position:]]
        timing = time_route(problem, k, trial)
        binding = (*base, *_time_relaxations(problem, k, timing))
        candidate = Insertion(clerk.id, position, binding, False, "")
        if best is None or candidate.cost < best.cost:
            best = candidate
    assert best is not None
    verified = _verify(problem, plan, visit.id, clerk.id, best.position, best.binding)
    return replace(best, verified=verified, message=_insertion_message(best, verified))


def _insertion_message(insertion: Insertion, verified: bool) -> str:
    if not insertion.binding:
        return "可直接插入" if verified else "无法插入"
    text = "；".join(r.message() for r in insertion.binding)
    return text if verified else f"{text}（调整后仍无法安排）"


def _time_relaxations(problem: Problem, k: int, timing: Timing) -> list[Relaxation]:
    clerk = problem.clerks[k]
    out: list[Relaxation] = []
    for excess in timing.excess:
        amount = _minutes_up(excess.seconds)
        if excess.code == "shift_end":
            out.append(Relaxation(LATER_SHIFT_END, clerk.id, amount))
        elif excess.code == "max_working":
            out.append(Relaxation(LONGER_WORKING, clerk.id, amount))
        elif excess.code == "lunch_window":
            out.append(Relaxation(LATER_LUNCH, clerk.id, amount))
        else:
            out.append(Relaxation(LATER_WINDOW, clerk.id, amount, visit_id=excess.visit_id))
    return out


def apply_fix(problem: Problem, changes: Sequence[Relaxation]) -> Problem:
    """``problem`` with the changes made (same points and matrix).

    A later lunch window that would end after the shift also moves the shift end, so the
    clerk stays valid; raises ``ValueError`` if a change cannot be made.
    """
    clerks = {clerk.id: clerk for clerk in problem.clerks}
    visits = {visit.id: visit for visit in problem.visits}
    for change in changes:
        clerk = clerks[change.clerk_id]
        if change.kind == ADD_SKILL:
            assert change.skill is not None
            clerks[clerk.id] = replace(clerk, skills=clerk.skills | {change.skill})
        elif change.kind == MORE_VISITS:
            assert clerk.max_visits is not None
            clerks[clerk.id] = replace(clerk, max_visits=clerk.max_visits + change.amount)
        elif change.kind == MORE_CAPACITY:
            assert clerk.capacity is not None
            clerks[clerk.id] = replace(clerk, capacity=clerk.capacity + change.amount)
        elif change.kind == LATER_SHIFT_END:
            clerks[clerk.id] = replace(clerk, shift_end_s=clerk.shift_end_s + change.amount)
        elif change.kind == LONGER_WORKING:
            assert clerk.max_working_s is not None
            clerks[clerk.id] = replace(clerk, max_working_s=clerk.max_working_s + change.amount)
        elif change.kind == LATER_LUNCH:
            assert clerk.lunch is not None
            lunch = clerk.lunch
            later = Break(
                lunch.duration_s, lunch.earliest_start_s, lunch.latest_end_s + change.amount
            )
            clerks[clerk.id] = replace(
                clerk, lunch=later, shift_end_s=max(clerk.shift_end_s, later.latest_end_s)
            )
        elif change.kind == LATER_WINDOW:
            assert change.visit_id is not None
            visit = visits[change.visit_id]
            last = visit.windows[-1]
            windows = (*visit.windows[:-1], TimeWindow(last.start_s, last.end_s + change.amount))
            visits[visit.id] = replace(visit, windows=windows)
        else:
            raise ValueError(f"unknown change {change.kind}")
    return Problem(
        tuple(visits[v.id] for v in problem.visits),
        tuple(clerks[c.id] for c in problem.clerks),
        problem.matrix,
    )


def insert(
    problem: Problem, plan: RoutePlan, visit_id: str, clerk_id: str, position: int
) -> RoutePlan:
    """``plan`` with ``visit_id`` moved from ``unassigned`` into ``clerk_id``'s route after
    ``position`` stops, the route re-timed at its earliest (the objective is not updated).

    The result may break rules (``check_plan`` says which); this is how a dispatcher's
    manual insertion, or an explanation's fix, is tried.
    """
    index = problem.visit_index()
    k = problem.clerk_index()[clerk_id]
    sequence = _route_sequence(problem, plan, k)
    trial = [*sequence[:position], index[visit_id], *sequence[position:]]
    route = make_route(problem, time_route(problem, k, trial).times)
    routes = [r for r in plan.routes if r.clerk_id != clerk_id] + [route]
    order = problem.clerk_index()
    routes.sort(key=lambda r: order[r.clerk_id])
    unassigned = tuple(item for item in plan.unassigned if item.visit_id != visit_id)
    return replace(plan, routes=tuple(routes), unassigned=unassigned)


def _verify(
    problem: Problem,
    plan: RoutePlan,
    visit_id: str,
    clerk_id: str,
    position: int | None,
    changes: Sequence[Relaxation],
) -> bool:
    if position is None:
        return False
    try:
        fixed = apply_fix(problem, changes)
    except (ValueError, AssertionError):
        return False
    tried = insert(fixed, plan, visit_id, clerk_id, position)
    # Only the changed route needs checking: the other routes are as they were, and the
    # changes only loosen rules (tests/routing/test_explain.py checks whole plans).
    route = next(r for r in tried.routes if r.clerk_id == clerk_id)
    return not check_route(fixed, route)
