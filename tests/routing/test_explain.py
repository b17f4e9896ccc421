from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from routing import apply_fix, check_plan, explain, insert
from routing._ortools import OrToolsSolver
from routing.explain import (
    ADD_SKILL,
    LATER_LUNCH,
    LATER_SHIFT_END,
    LATER_WINDOW,
    MORE_VISITS,
)
from routing.geo import LatLon
from routing.model import Break, Clerk, Problem, Reason, RoutePlan, TimeWindow, Visit
from routing.model import build_problem as build
from routing.solver import SolveParams
from routing.travel import TravelMatrix

H = 3600
FEW = SolveParams(solution_limit=20, branch_limit=20_000)
SKILLS = ("社保", "残疾评定")


class Plane:
    """0.01 degree = 1 km at 8 m/s; seconds rounded up."""

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        metres = [
            [round(math.hypot(a.lat - b.lat, a.lon - b.lon) * 100_000) for b in points]
            for a in points
        ]
        seconds = tuple(tuple(math.ceil(m / 8) for m in row) for row in metres)
        return TravelMatrix(seconds, tuple(tuple(row) for row in metres))


def place(draw: st.DrawFn) -> LatLon:
    return LatLon(27.5 + draw(st.integers(0, 60)) / 100, 119.0 + draw(st.integers(0, 60)) / 100)


@st.composite
def crowded_days(draw: st.DrawFn) -> Problem:
    """Small days with more work than the clerks can do, so that visits are left out."""
    clerks = []
    for k in range(draw(st.integers(1, 2))):
        home = place(draw)
        clerks.append(
            Clerk(
                id=f"k{k}",
                start=home,
                end=draw(st.sampled_from([home, place(draw)])),
                shift_start_s=8 * H,
                shift_end_s=draw(st.sampled_from([12 * H + 1800, 15 * H])),
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=2))),
                lunch=draw(st.sampled_from([None, Break(1800, 11 * H + 1800, 12 * H + 1800)])),
                max_visits=draw(st.sampled_from([None, 2, 3])),
                max_working_s=draw(st.sampled_from([None, 3 * H])),
                capacity=draw(st.sampled_from([None, 2])),
            )
        )
    visits = []
    for i in range(draw(st.integers(2, 8))):
        start = draw(st.sampled_from([8 * H, 9 * H, 10 * H + 1800, 11 * H]))
        visits.append(
            Visit(
                id=f"v{i}",
                location=place(draw),
                service_s=draw(st.sampled_from([1200, 2400, 3600])),
                windows=(TimeWindow(start, start + draw(st.sampled_from([0, 1800, 3 * H]))),),
                skill=draw(st.sampled_from([None, *SKILLS])),
                priority=draw(st.integers(0, 2)),
                demand=draw(st.integers(0, 1)),
                deferrable=draw(st.booleans()),
            )
        )
    return build(visits, clerks, Plane())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_days())
def test_every_proposed_fix_really_fits(problem: Problem) -> None:
    """Each unassigned visit is explained for every clerk; doing what a fix says (change the
    problem, insert the visit there) gives a plan that check_plan finds clean."""
    plan = OrToolsSolver().solve(problem, FEW)
    explanations = explain(problem, plan)
    assert [e.visit_id for e in explanations] == [u.visit_id for u in plan.unassigned]
    for item in explanations:
        assert [ins.clerk_id for ins in item.insertions] == [c.id for c in problem.clerks]
        assert item.message
        for insertion in item.insertions:
            if not insertion.verified:
                continue
            assert insertion.position is not None
            fixed = apply_fix(problem, insertion.binding)
            tried = insert(fixed, plan, item.visit_id, insertion.clerk_id, insertion.position)
            assert check_plan(fixed, tried) == []
        if item.fix is not None:
            assert item.fix.cost == min(i.cost for i in item.insertions if i.verified)


def test_the_property_is_not_vacuous() -> None:
    """The property above checks only the fixes it is given, so it would pass if none
    were ever verified: some crowded day must have a verified fix that changes a limit."""

    def has_verified_fix(problem: Problem) -> bool:
        plan = OrToolsSolver().solve(problem, FEW)
        return any(
            insertion.verified and insertion.binding
            for item in explain(problem, plan)
            for insertion in item.insertions
        )

    found = find(
        crowded_days(), has_verified_fix, settings=settings(max_examples=200, database=None)
    )
    assert has_verified_fix(found)


def one_clerk_day(visits: list[Visit], **clerk: object) -> Problem:
    fields: dict[str, object] = {
        "id": "k1",
        "start": LatLon(27.5, 119.0),
        "end": LatLon(27.5, 119.0),
        "shift_start_s": 8 * H,
        "shift_end_s": 12 * H,
    }
    fields.update(clerk)
    return build(visits, [Clerk(**fields)], Plane())  # type: ignore[arg-type]


def east(km: float) -> LatLon:
    return LatLon(27.5, 119.0 + km / 100)


def test_shift_end_exceeded_by_minutes() -> None:
    """A visit that would bring the clerk back 25 minutes late: extend the shift 25 minutes."""
    # 14.4 km is 1,800 s at 8 m/s; the visit may begin 10:30 at the earliest, lasts 1 h.
    far = Visit("far", east(14.4), 3600, (TimeWindow(10 * H + 1800, 11 * H),))
    problem = one_clerk_day([far], shift_end_s=12 * H - 1500)
    plan = OrToolsSolver().solve(problem, FEW)
    (item,) = explain(problem, plan)
    assert item.reason is Reason.UNREACHABLE_IN_WINDOW
    assert item.fix is not None
    (change,) = item.fix.binding
    assert (change.kind, change.amount) == (LATER_SHIFT_END, 1500)
    assert "班次结束时间推迟 25 分钟" in item.message


def test_missing_skill_is_the_fix() -> None:
    """Nobody has the skill: the fix gives the clerk the skill, nothing else."""
    visit = Visit("v", east(1), 600, (TimeWindow(9 * H, 10 * H),), skill="残疾评定")
    problem = one_clerk_day([visit])
    plan = OrToolsSolver().solve(problem, FEW)
    (item,) = explain(problem, plan)
    assert item.reason is Reason.NO_SKILL
    assert item.fix is not None
    assert [(r.kind, r.skill) for r in item.fix.binding] == [(ADD_SKILL, "残疾评定")]
    assert "具备「残疾评定」技能" in item.message


def test_visit_cap_reached() -> None:
    """With the cap of two visits used, the third needs one more visit allowed."""
    visits = [Visit(f"v{i}", east(1 + i), 600, (TimeWindow(8 * H, 11 * H),)) for i in range(3)]
    problem = one_clerk_day(visits, max_visits=2)
    plan = OrToolsSolver().solve(problem, FEW)
    (item,) = explain(problem, plan)
    assert item.fix is not None
    assert [(r.kind, r.amount) for r in item.fix.binding] == [(MORE_VISITS, 1)]


def test_lunch_window_binds() -> None:
    """Two long visits around noon leave no room for lunch: the lunch may start later."""
    noon = [
        Visit("a", east(0.1), 2 * H, (TimeWindow(10 * H, 10 * H),)),
        Visit("b", east(0.2), 2 * H, (TimeWindow(12 * H, 12 * H),)),
    ]
    problem = one_clerk_day(
        noon, shift_end_s=16 * H, lunch=Break(1800, 11 * H + 1800, 12 * H + 1800)
    )
    plan = OrToolsSolver().solve(problem, FEW)
    assert plan.served == 1
    (item,) = explain(problem, plan)
    assert item.fix is not None
    kinds = {r.kind for r in item.fix.binding}
    assert kinds & {LATER_LUNCH, LATER_WINDOW}
    fixed = apply_fix(problem, item.fix.binding)
    assert item.fix.position is not None
    tried = insert(fixed, plan, item.visit_id, item.fix.clerk_id, item.fix.position)
    assert check_plan(fixed, tried) == []


def test_a_visit_that_fits_as_it_is_says_so() -> None:
    """An unassigned visit that fits a route unchanged is explained as fitting, no change."""
    visit = Visit("v", east(1), 600, (TimeWindow(9 * H, 10 * H),))
    problem = one_clerk_day([visit])
    left_out = RoutePlan((), (plan_unassigned(problem),), 0)
    (item,) = explain(problem, left_out)
    assert item.fix is not None and item.fix.binding == ()
    assert "可直接由办事员「k1」排在第 1 站办理" in item.message


def plan_unassigned(problem: Problem):  # type: ignore[no-untyped-def]
    from routing.model import Unassigned

    return Unassigned(problem.visits[0].id, Reason.OVER_CAPACITY, "当天已排满")
