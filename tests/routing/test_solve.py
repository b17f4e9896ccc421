from __future__ import annotations

from dataclasses import replace

import pytest

from routing._ortools import OrToolsSolver
from routing.check import check_plan
from routing.model import Problem, Reason, RoutePlan, TimeWindow
from routing.solver import PlanError, Presolved, RouteTimes, SolveParams, finish_plan, presolve

H = 3600
FEW = SolveParams(solution_limit=30, branch_limit=20_000)


def solve(problem: Problem, params: SolveParams = FEW) -> RoutePlan:
    plan = OrToolsSolver().solve(problem, params)
    assert check_plan(problem, plan) == []
    return plan


def route_of(plan: RoutePlan, clerk_id: str) -> list[str]:
    for route in plan.routes:
        if route.clerk_id == clerk_id:
            return [stop.visit_id for stop in route.stops]
    return []


def reasons(plan: RoutePlan) -> dict[str, Reason]:
    return {item.visit_id: item.reason for item in plan.unassigned}


def test_ok_small_hand_checked(ok_small) -> None:
    """OkSmall: farthest first at 08:05, then back along the line; 600 s travel, no waiting."""
    plan = solve(ok_small)
    (route,) = plan.routes
    assert [s.visit_id for s in route.stops] == ["C", "B", "A"]
    assert route.start_s == 8 * H
    assert [(s.arrival_s, s.start_s, s.departure_s) for s in route.stops] == [
        (8 * H + 300, 8 * H + 300, 8 * H + 900),
        (8 * H + 1000, 8 * H + 1000, 8 * H + 1600),
        (8 * H + 1700, 8 * H + 1700, 8 * H + 2300),
    ]
    assert route.end_s == 8 * H + 2400
    assert (plan.travel_s, plan.travel_m, plan.waiting_s, plan.working_s) == (600, 6000, 0, 2400)
    assert plan.served == 3 and plan.unassigned == ()


def test_objective_is_the_documented_formula(ok_small) -> None:
    """Objective = working s × 10 + metres × 1 + balance × span with default weights."""
    plan = solve(ok_small)
    assert plan.objective == 2400 * 10 + 6000 * 1 + 2400 * 1


def test_clerk_leaves_late_rather_than_waits(make_problem, visit, clerk) -> None:
    """With working time costed, a clerk with only an afternoon visit leaves just in time."""
    problem = make_problem(
        [visit("pm", 2, windows=(TimeWindow(13 * H + 1800, 17 * H),))], [clerk("k1")]
    )
    (route,) = solve(problem).routes
    assert route.start_s >= 13 * H + 1800 - 200
    assert route.working_s == 200 + 600 + 200
    assert route.waiting_s == 0


def test_break_falls_between_morning_and_afternoon(make_problem, visit, clerk, lunch_break) -> None:
    """The lunch break is taken inside its window, between the 11:00 and 14:00 visits."""
    visits = [
        visit("am", 1, windows=(TimeWindow(11 * H, 11 * H),)),
        visit("pm", 1, windows=(TimeWindow(14 * H, 14 * H),)),
    ]
    plan = solve(make_problem(visits, [clerk("k1", lunch=lunch_break)]))
    (route,) = plan.routes
    assert route.lunch is not None
    assert route.lunch.after_stops == 1
    assert route.lunch.duration_s == 1800
    assert route.lunch.start_s >= 11 * H + 1800 and route.lunch.end_s <= 14 * H


def test_break_on_a_tight_leg_delays_the_next_visit(make_problem, visit, clerk) -> None:
    """A break that must fall on a leg adds its duration to that leg: arrival is later."""
    from routing.model import Break

    brk = Break(1800, 12 * H, 12 * H + 1800)  # exactly 12:00-12:30
    visits = [
        visit("a", 1, windows=(TimeWindow(11 * H + 3000, 11 * H + 3000),)),  # 11:50, ends 12:00
        visit("b", 2, windows=(TimeWindow(12 * H, 13 * H),)),
    ]
    plan = solve(make_problem(visits, [clerk("k1", lunch=brk)]))
    (route,) = plan.routes
    assert [s.visit_id for s in route.stops] == ["a", "b"]
    assert route.lunch is not None and route.lunch.start_s == 12 * H
    assert route.stops[1].start_s >= 12 * H + 1800 + 100


@pytest.mark.parametrize(("km", "both"), [(15, True), (21, False)])
def test_an_hours_lunch_on_the_arc_between_morning_and_afternoon_is_exact(
    make_problem, visit, clerk, km, both
) -> None:
    """Every visit on a known side of the lunch (an hour starting 11:30–13:00): the engine
    puts it on the one arc between the sides instead of a break interval. A ends at 12:00;
    B, km further on, must begin at 13:30: 15 km (1,500 s) leaves time to lunch and drive,
    21 km (2,100 s) does not, so one clerk cannot serve both."""
    from routing._ortools import _lunch_splits
    from routing.model import Break

    hour = Break(3600, 11 * H + 1800, 14 * H)
    visits = [
        visit("A", 1, service_s=1800, windows=(TimeWindow(11 * H + 1800, 11 * H + 1800),)),
        visit("B", 1 + km, windows=(TimeWindow(13 * H + 1800, 13 * H + 1800),)),
    ]
    problem = make_problem(visits, [clerk("k1", lunch=hour)])
    assert set(_lunch_splits(problem, [0, 1], presolve(problem))) == {0}
    plan = solve(problem)
    assert len(route_of(plan, "k1")) == (2 if both else 1)
    (route,) = plan.routes
    assert route.lunch is not None and route.lunch.duration_s == 3600


def test_the_engines_own_lunch_on_the_crossing_arc_starts_in_its_window(
    make_problem, visit, clerk
) -> None:
    """Read back from OR-Tools before any re-timing: the morning's visit ends at 09:30, the
    afternoon's begins at 13:30, so the lunch on the road between starts at 11:30 (not at
    the departure); with the morning visit alone the clerk lunches after coming back."""
    from routing._ortools import _Job, _search
    from routing.check import check_route
    from routing.model import Break
    from routing.solver import make_route

    hour = Break(3600, 11 * H + 1800, 14 * H)
    visits = [
        visit("am", 1, service_s=1800, windows=(TimeWindow(9 * H, 9 * H),)),
        visit("pm", 2, windows=(TimeWindow(13 * H + 1800, 13 * H + 1800),)),
    ]
    for served, lunch_at in ((visits, 11 * H + 1800), (visits[:1], 11 * H + 1800)):
        problem = make_problem(served, [clerk("k1", lunch=hour)])
        job = _Job(problem, presolve(problem), FEW, "LOCAL_CHEAPEST_INSERTION", None)
        (times,) = _search(job)
        assert len(times.visits) == len(served) and times.lunch_start_s == lunch_at
        assert check_route(problem, make_route(problem, times)) == []


def test_a_visit_that_may_fall_either_side_of_lunch_keeps_the_break_interval(
    make_problem, visit, clerk, lunch_break
) -> None:
    """A visit bookable all day can be served before or after the lunch: that clerk's lunch
    stays an OR-Tools break interval (the arc model would be wrong), and the plan is clean."""
    from routing._ortools import _lunch_splits

    visits = [visit("all-day", 2), visit("pm", 3, windows=(TimeWindow(14 * H, 15 * H),))]
    problem = make_problem(visits, [clerk("k1", lunch=lunch_break)])
    assert _lunch_splits(problem, [0, 1], presolve(problem)) == {}
    plan = solve(problem)
    assert len(route_of(plan, "k1")) == 2


def test_second_window_used_when_first_unreachable(make_problem, visit, clerk) -> None:
    """A visit whose first window closes before the clerk can arrive is served in the second."""
    windows = (TimeWindow(8 * H, 8 * H + 60), TimeWindow(15 * H, 15 * H + 600))
    plan = solve(make_problem([visit("v", 5, windows=windows)], [clerk("k1")]))
    (route,) = plan.routes
    assert 15 * H <= route.stops[0].start_s <= 15 * H + 600


def test_skill_decides_the_clerk(make_problem, visit, clerk) -> None:
    """A visit needing 残疾评定 goes to the only clerk with that skill."""
    problem = make_problem(
        [visit("v", 1, skill="残疾评定")],
        [clerk("k1", skills=frozenset({"社保"})), clerk("k2", skills=frozenset({"残疾评定"}))],
    )
    plan = solve(problem)
    assert route_of(plan, "k2") == ["v"]


def test_pinned_visit_stays_with_its_clerk(make_problem, visit, clerk, east) -> None:
    """A visit pinned to the far clerk is his, though the near clerk would be cheaper."""
    problem = make_problem(
        [visit("v", 1, clerk_id="far")],
        [clerk("near"), clerk("far", start=east(20), end=east(20))],
    )
    assert route_of(solve(problem), "far") == ["v"]


def test_max_visits_splits_the_work(make_problem, visit, clerk) -> None:
    """Clerks limited to two visits share four visits two and two."""
    problem = make_problem(
        [visit(f"v{i}", i + 1) for i in range(4)],
        [clerk("k1", max_visits=2), clerk("k2", max_visits=2)],
    )
    plan = solve(problem)
    assert sorted(len(route.stops) for route in plan.routes) == [2, 2]


def test_max_working_time_is_respected(make_problem, visit, clerk) -> None:
    """A clerk allowed 30 minutes of work serves the near visit and leaves the far one."""
    problem = make_problem(
        [visit("near", 1), visit("far", 10)],
        [clerk("k1", max_working_s=1800)],
    )
    plan = solve(problem)
    assert route_of(plan, "k1") == ["near"]
    assert reasons(plan) == {"far": Reason.UNREACHABLE_IN_WINDOW}


def test_capacity_limits_demand(make_problem, visit, clerk) -> None:
    """Demand above a clerk's capacity goes to the other clerk."""
    problem = make_problem(
        [visit("a", 1, demand=3), visit("b", 2, demand=3)],
        [clerk("k1", capacity=4), clerk("k2", capacity=4)],
    )
    plan = solve(problem)
    assert sorted(len(route.stops) for route in plan.routes) == [1, 1]


def test_urgent_visit_wins_a_conflict(make_problem, visit, clerk) -> None:
    """Two visits at the same minute in different places: the urgent one is served."""
    at_nine = (TimeWindow(9 * H, 9 * H),)
    problem = make_problem(
        [visit("normal", 1, windows=at_nine), visit("urgent", -1, windows=at_nine, priority=2)],
        [clerk("k1")],
    )
    plan = solve(problem)
    assert route_of(plan, "k1") == ["urgent"]
    assert reasons(plan) == {"normal": Reason.OVER_CAPACITY}


def test_deferrable_visit_gives_way(make_problem, visit, clerk) -> None:
    """In a conflict the deferrable visit is dropped and reported DEFERRED."""
    at_nine = (TimeWindow(9 * H, 9 * H),)
    problem = make_problem(
        [visit("later", 1, windows=at_nine, deferrable=True), visit("today", -1, windows=at_nine)],
        [clerk("k1")],
    )
    plan = solve(problem)
    assert route_of(plan, "k1") == ["today"]
    (item,) = plan.unassigned
    assert item.reason is Reason.DEFERRED
    assert item.message == "当天办事员已排满，此次上门顺延至其他日期办理"


def test_reason_no_skill(make_problem, visit, clerk) -> None:
    """Nobody has the skill: NO_SKILL, explained in Chinese with the skill named."""
    plan = solve(make_problem([visit("v", 1, skill="残疾评定")], [clerk("k1")]))
    (item,) = plan.unassigned
    assert item.reason is Reason.NO_SKILL
    assert item.message == "没有具备「残疾评定」技能的办事员"


def test_reason_pinned_clerk_lacks_skill(make_problem, visit, clerk) -> None:
    """The pinned clerk lacks the skill (another has it): NO_SKILL naming the clerk."""
    problem = make_problem(
        [visit("v", 1, skill="户籍拍照采集", clerk_id="k1")],
        [clerk("k1"), clerk("k2", skills=frozenset({"户籍拍照采集"}))],
    )
    (item,) = solve(problem).unassigned
    assert item.reason is Reason.NO_SKILL
    assert item.message == "指定的办事员「k1」不具备「户籍拍照采集」技能"


def test_reason_outside_shifts(make_problem, visit, clerk) -> None:
    """An evening window that no shift overlaps: OUTSIDE_SHIFTS."""
    problem = make_problem([visit("v", 1, windows=(TimeWindow(19 * H, 20 * H),))], [clerk("k1")])
    (item,) = solve(problem).unassigned
    assert item.reason is Reason.OUTSIDE_SHIFTS


def test_reason_unreachable_in_window(make_problem, visit, clerk) -> None:
    """A window at the very start of the shift, too far to reach in time: UNREACHABLE."""
    problem = make_problem(
        [visit("v", 30, windows=(TimeWindow(8 * H, 8 * H + 600),))], [clerk("k1")]
    )
    (item,) = solve(problem).unassigned
    assert item.reason is Reason.UNREACHABLE_IN_WINDOW


def test_reason_unreachable_counts_the_break(make_problem, visit, clerk) -> None:
    """A long visit that leaves no room for the compulsory lunch is unreachable."""
    from routing.model import Break

    brk = Break(1800, 12 * H, 13 * H)
    whole_lunch = visit(
        "v", 1, service_s=2 * H, windows=(TimeWindow(11 * H + 1800, 11 * H + 1800),)
    )
    problem = make_problem([whole_lunch], [clerk("k1", lunch=brk)])
    (item,) = solve(problem).unassigned
    assert item.reason is Reason.UNREACHABLE_IN_WINDOW


def test_reason_over_capacity_when_the_day_is_full(make_problem, visit, clerk) -> None:
    """Each visit alone fits, both together do not: one is OVER_CAPACITY."""
    problem = make_problem(
        [visit(f"v{i}", 1, service_s=5 * H) for i in range(2)],
        [clerk("k1", shift_end_s=16 * H)],
    )
    plan = solve(problem)
    assert plan.served == 1
    assert [item.reason for item in plan.unassigned] == [Reason.OVER_CAPACITY]


def test_reason_over_capacity_before_solving(make_problem, visit, clerk) -> None:
    """A demand larger than every clerk's capacity is reported without searching."""
    problem = make_problem([visit("v", 1, demand=9)], [clerk("k1", capacity=5)])
    assert [u.reason for u in presolve(problem).unassigned] == [Reason.OVER_CAPACITY]


def test_warm_start_keeps_a_good_plan(make_problem, visit, clerk) -> None:
    """From a previous plan, one solution is no worse than that plan."""
    visits = [visit(f"v{i}", (i * 7) % 11 + 1, north_km=(i * 3) % 5) for i in range(10)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    good = solve(problem, SolveParams(solution_limit=60))
    warm = solve(problem, SolveParams(solution_limit=1, initial=good))
    assert warm.objective <= good.objective


def test_two_workers_keep_the_better_search(make_problem, visit, clerk) -> None:
    """Two OR-Tools searches, the second (in the worker process) from the second
    first-solution strategy, return the better plan: here the worker's."""
    visits = [visit(f"v{i}", i % 9 + 1, north_km=(i * 2) % 7) for i in range(13)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    bounded = SolveParams(time_limit_s=None, solution_limit=3, guided_local_search=False)
    one = OrToolsSolver().solve(problem, bounded)
    second = replace(bounded, first_solutions=bounded.first_solutions[1:])
    other = OrToolsSolver().solve(problem, second)
    two = OrToolsSolver().solve(problem, replace(bounded, workers=2))
    assert other.objective < one.objective
    assert two.objective == other.objective


def test_engine_output_failing_the_check_raises(ok_small) -> None:
    """An engine answer that check_plan rejects never leaves the library: PlanError."""
    bogus = RouteTimes(
        clerk=0,
        visits=(0, 1, 2),
        start_s=8 * H,
        service_starts=(8 * H,) * 3,
        end_s=8 * H,
        lunch_start_s=None,
    )
    presolved = Presolved(eligible=((0,), (0,), (0,)), unassigned=())
    with pytest.raises(PlanError, match="plan fails its check"):
        finish_plan(ok_small, [bogus], presolved, FEW.weights, "test")


def test_pyvrp_engine_solves_ok_small(ok_small) -> None:
    """PyVRP, iteration-bounded, finds the hand-checked OkSmall route and times."""
    from routing._pyvrp import PyVrpSolver

    plan = PyVrpSolver().solve(ok_small, SolveParams(branch_limit=20_000))
    assert check_plan(ok_small, plan) == []
    (route,) = plan.routes
    assert [s.visit_id for s in route.stops] == ["C", "B", "A"]
    assert (plan.travel_m, plan.waiting_s, plan.working_s) == (6000, 0, 2400)


def test_pyvrp_engine_refuses_breaks(make_problem, visit, clerk, lunch_break) -> None:
    """PyVRP has no lunch breaks: such a problem is refused, not silently mis-planned."""
    from routing._pyvrp import PyVrpSolver

    problem = make_problem([visit("v", 1)], [clerk("k1", lunch=lunch_break)])
    with pytest.raises(ValueError, match="PyVRP cannot express"):
        PyVrpSolver().solve(problem, FEW)


def test_a_search_bounded_by_solutions_alone_is_not_given_to_pyvrp(ok_small) -> None:
    """PyVRP stops by time or iterations only: with ``solution_limit`` as the one bound it
    refuses the search with a clear error, and ``solve`` plans the plain day with VROOM and
    OR-Tools instead (it raised an AssertionError inside the PyVRP engine)."""
    from routing import solve
    from routing._pyvrp import PyVrpSolver

    params = SolveParams(time_limit_s=None, solution_limit=5, guided_local_search=False)
    with pytest.raises(ValueError, match="time_limit_s or branch_limit"):
        PyVrpSolver().solve(ok_small, params)
    plan = solve(ok_small, params)
    assert plan.engine in {"vroom", "ortools"} and plan.served == 3
    assert check_plan(ok_small, plan) == []


def test_auto_solver_chooses_by_what_the_problem_needs(
    ok_small, make_problem, visit, clerk, lunch_break
) -> None:
    """Plain time windows go to PyVRP; breaks, skills or pins go to OR-Tools."""
    from routing._pyvrp import PyVrpSolver
    from routing.auto import choose

    assert isinstance(choose(ok_small), PyVrpSolver)
    with_break = make_problem([visit("v", 1)], [clerk("k1", lunch=lunch_break)])
    with_skill = make_problem(
        [visit("v", 1, skill="社保")], [clerk("k1", skills=frozenset({"社保"}))]
    )
    assert isinstance(choose(with_break), OrToolsSolver)
    assert isinstance(choose(with_skill), OrToolsSolver)


def test_vroom_engine_plans_breaks_and_skills(make_problem, visit, clerk, lunch_break) -> None:
    """The VROOM engine's plan with a break and skills passes check_plan."""
    from routing._vroom import VroomSolver

    visits = [
        visit("am", 1, windows=(TimeWindow(11 * H, 11 * H),), skill="社保"),
        visit("pm", 2, windows=(TimeWindow(14 * H, 14 * H),)),
    ]
    problem = make_problem(visits, [clerk("k1", lunch=lunch_break, skills=frozenset({"社保"}))])
    plan = VroomSolver(threads=1).solve(problem, FEW)
    assert check_plan(problem, plan) == []
    assert plan.served == 2 and plan.routes[0].lunch is not None


def test_vroom_levels_fit_the_time_limit_instead_of_sharing_it(
    make_problem, visit, clerk, monkeypatch
) -> None:
    """Defect 3: VROOM splits its own timeout over its search threads and cuts each short,
    so a time limit is never handed to one high-exploration run. Level 0 runs first, then
    only levels whose expected time (scaled from what the earlier ones took) fits what is
    left, and every plan is checked. Searches here are real; the clock is a fake one that
    advances by each level's modelled cost, so no wall time is asserted."""
    from routing import _vroom
    from routing._vroom import LEVEL_COST, VroomSolver

    visits = [visit(f"v{i}", i % 5, windows=(TimeWindow(9 * H, 16 * H),)) for i in range(6)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    clock = [0.0]
    calls: list[tuple[int, float | None, float]] = []
    real_run = VroomSolver._run

    def run(self, problem, params, presolved, level, timeout_s):  # type: ignore[no-untyped-def]
        calls.append((level, timeout_s, clock[0]))
        plan = real_run(self, problem, params, presolved, level, None)
        clock[0] += LEVEL_COST[level]  # one time unit for level 0
        return plan

    monkeypatch.setattr(VroomSolver, "_run", run)
    monkeypatch.setattr(_vroom.time, "monotonic", lambda: clock[0])
    limit = 10.0
    plan = VroomSolver(threads=2).solve(problem, replace(FEW, time_limit_s=limit))

    assert check_plan(problem, plan) == [] and plan.served == 6
    levels = [level for level, _, _ in calls]
    assert levels[0] == 0, "the first search is the cheapest level, not the highest"
    assert levels == [0, 3], levels  # 1 unit, then the highest level costing <= 9 units
    for level, timeout_s, at in calls:
        assert at + LEVEL_COST[level] <= limit, (level, at)  # chosen to finish in time
        assert timeout_s is not None and timeout_s >= limit - at - 1e-9  # a safety net only
    assert clock[0] <= limit

    # Without a time limit: one search at the configured level, no timeout.
    calls.clear()
    VroomSolver(exploration_level=4, threads=2).solve(problem, replace(FEW, time_limit_s=None))
    assert [(level, timeout_s) for level, timeout_s, _ in calls] == [(4, None)]


SMALL_VRPLIB = """NAME : TINY
TYPE : CVRPTW
DIMENSION : 4
VEHICLES : 2
CAPACITY : 10
SERVICE_TIME : 10
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 3 4
3 6 8
4 0 5
DEMAND_SECTION
1 0
2 4
3 4
4 4
TIME_WINDOW_SECTION
1 0 100
2 0 50
3 0 60
4 0 90
DEPOT_SECTION
1
-1
EOF
"""


def test_solomon_reader_and_double_precision_score(tmp_path) -> None:
    """A VRPLIB file reads as written; routes score to their Euclidean length and feasibility."""
    from routing.solomon import read_instance, score

    path = tmp_path / "TINY.vrp"
    path.write_text(SMALL_VRPLIB)
    instance = read_instance(path)
    assert (instance.vehicles, instance.capacity, instance.customers) == (2, 10, 3)
    assert instance.windows[2] == (0, 60) and instance.service == (0, 10, 10, 10)
    good = score(instance, [[1, 2], [3]])
    assert good.feasible and good.distance == pytest.approx(5 + 5 + 10 + 5 + 5)
    over = score(instance, [[1, 2, 3]])  # load 12 > 10
    assert not over.feasible


def test_solomon_problem_is_solved_feasibly(tmp_path) -> None:
    """A Solomon instance becomes a problem whose OR-Tools plan scores feasible."""
    from routing.solomon import DISTANCE_ONLY, read_instance, score, to_problem

    path = tmp_path / "TINY.vrp"
    path.write_text(SMALL_VRPLIB)
    instance = read_instance(path)
    problem = to_problem(instance)
    plan = solve(problem, SolveParams(weights=DISTANCE_ONLY, branch_limit=20_000))
    routes = [[int(s.visit_id) for s in r.stops] for r in plan.routes]
    result = score(instance, routes)
    assert result.feasible
    assert result.distance == pytest.approx(plan.travel_m / 1000, abs=0.01)


def test_auto_solver_keeps_the_better_of_ortools_and_vroom(
    make_problem, visit, clerk, lunch_break
) -> None:
    """With a break, AutoSolver runs OR-Tools and VROOM and keeps the lower objective."""
    from routing._vroom import VroomSolver
    from routing.auto import AutoSolver, candidates

    visits = [visit(f"v{i}", (i * 5) % 9 + 1, north_km=(i * 2) % 7) for i in range(8)]
    problem = make_problem(visits, [clerk("k1", lunch=lunch_break), clerk("k2")])
    engines = candidates(problem)
    assert [type(e) for e in engines] == [OrToolsSolver, VroomSolver]
    best = AutoSolver().solve(problem, FEW)
    assert check_plan(problem, best) == []
    alone = [engine.solve(problem, FEW).objective for engine in engines]
    assert best.objective <= min(alone)


def test_auto_solver_improves_on_vroom_from_its_plan(
    make_problem, visit, clerk, lunch_break
) -> None:
    """AutoSolver runs VROOM first and then OR-Tools from VROOM's routes: on this seeded
    day (lunch, windows, priorities, visit caps, clerks ending elsewhere) its plan is better
    than VROOM's and than OR-Tools' from scratch, each alone with the same limits (racing
    the two and keeping the better one, as before, cannot beat both)."""
    import random

    from routing._vroom import VroomSolver
    from routing.auto import AutoSolver

    rng = random.Random(2)
    visits = []
    for i in range(14):
        window = rng.choice([(8 * H, 12 * H), (13 * H, 17 * H), (8 * H, 17 * H)])
        visits.append(
            visit(
                f"v{i}",
                rng.uniform(-15, 15),
                north_km=rng.uniform(-15, 15),
                service_s=rng.choice([600, 1200, 1800]),
                windows=(TimeWindow(*window),),
                priority=rng.choice([1, 1, 1, 2, 3]),
                deferrable=rng.random() < 0.3,
            )
        )
    clerks = [
        clerk(
            f"k{k}", lunch=lunch_break, max_visits=5, end=visit("x", rng.uniform(-10, 10)).location
        )
        for k in range(3)
    ]
    problem = make_problem(visits, clerks)
    # Bounded by solutions and branches, not time: VROOM then runs one search at level 5.
    params = SolveParams(time_limit_s=None, solution_limit=10, branch_limit=3_000)
    vroom = VroomSolver().solve(problem, params)
    scratch = OrToolsSolver().solve(problem, params)
    plan = AutoSolver().solve(problem, params)
    assert check_plan(problem, plan) == []
    assert plan.objective <= vroom.objective
    assert plan.objective < min(vroom.objective, scratch.objective)
    from_vroom = OrToolsSolver().solve(problem, replace(params, initial=vroom))
    assert plan.objective == from_vroom.objective


def test_race_keeps_its_workers_warm_and_passes_durations() -> None:
    """The portfolio's worker is started before any search and reused: the same process
    answers two races, and it receives the caller's arguments (a duration) unchanged."""
    import os

    from routing import _portfolio

    _portfolio.shutdown()
    params = SolveParams(time_limit_s=5.0)
    first = _portfolio.race(lambda: os.getpid(), [(os.getpid, ())])
    second = _portfolio.race(lambda: 0, [(os.getpid, ())])
    limit = _portfolio.race(lambda: 0, [(getattr, (params, "time_limit_s"))])
    assert first[0] == os.getpid() != first[1]
    assert second[1] == first[1]
    assert limit[1] == 5.0


def test_a_failing_search_is_returned_as_its_exception() -> None:
    """A search that raises is reported as data; the other results still count."""
    from routing import _portfolio

    results = _portfolio.race(lambda: 1, [(int, ("not a number",))])
    assert results[0] == 1 and isinstance(results[1], ValueError)
    assert _portfolio.succeeded(results) == [1]
    with pytest.raises(ValueError):
        _portfolio.succeeded([ValueError("both failed")])


@pytest.mark.parametrize("vroom_in_worker", [False, True], ids=["in-process", "in-worker"])
def test_a_failing_engine_leaves_the_other_plan(
    monkeypatch, make_problem, visit, clerk, vroom_in_worker
) -> None:
    """When one engine fails (here VROOM refuses a working-time bound), AutoSolver returns
    the other engine's plan instead of raising: in this process, or in the worker, where
    VROOM runs first and OR-Tools then searches from scratch."""
    from routing import auto
    from routing._vroom import VroomSolver

    visits = [visit(f"v{i}", 1 + i) for i in range(3)]
    problem = make_problem(visits, [clerk("k1", max_working_s=4 * H)])
    engines = [VroomSolver(), OrToolsSolver()]
    if vroom_in_worker:  # the in-process engine comes first
        engines.reverse()
    monkeypatch.setattr(auto, "candidates", lambda p, params=None: engines)
    plan = auto.AutoSolver().solve(problem, FEW)
    assert plan.engine == "ortools" and plan.served == 3
    assert check_plan(problem, plan) == []


def test_auto_solver_reads_its_clock_once_the_worker_is_warm(monkeypatch, ok_small) -> None:
    """The worker's start-up (1-2 s on a first call) comes out of no engine's time: the
    pool is running before AutoSolver reads the clock it measures the time left with."""
    from routing import _portfolio, auto
    from routing._vroom import VroomSolver

    _portfolio.shutdown()
    warm_at_first_read: list[bool] = []
    clock = auto.time.monotonic

    def monotonic() -> float:
        warm_at_first_read.append(_portfolio._pool is not None)
        return clock()

    monkeypatch.setattr(auto.time, "monotonic", monotonic)
    monkeypatch.setattr(auto, "candidates", lambda p, params=None: [OrToolsSolver(), VroomSolver()])
    plan = auto.AutoSolver().solve(ok_small, replace(FEW, time_limit_s=2.0))
    assert check_plan(ok_small, plan) == []
    assert warm_at_first_read[:1] == [True]


def test_no_first_solution_raises_instead_of_an_unbounded_rerun(
    make_problem, visit, clerk, lunch_break
) -> None:
    """A branch limit that strikes before the first plan is complete is reported
    (NoSolutionError), never followed by a search without limits."""
    from routing.solver import NoSolutionError

    visits = [visit(f"v{i}", 1 + i) for i in range(6)]
    problem = make_problem(visits, [clerk("k1", lunch=lunch_break), clerk("k2", lunch=lunch_break)])
    with pytest.raises(NoSolutionError, match="no first plan"):
        OrToolsSolver().solve(problem, SolveParams(branch_limit=1, time_limit_s=None))


def test_auto_solver_uses_vroom_when_ortools_finds_nothing(
    make_problem, visit, clerk, lunch_break
) -> None:
    """OR-Tools stopped before any plan: AutoSolver returns VROOM's plan of the same day."""
    from routing.auto import AutoSolver

    visits = [visit(f"v{i}", 1 + i) for i in range(6)]
    problem = make_problem(visits, [clerk("k1", lunch=lunch_break), clerk("k2", lunch=lunch_break)])
    plan = AutoSolver().solve(problem, SolveParams(branch_limit=1, time_limit_s=None))
    assert plan.engine == "vroom" and plan.served == 6


def test_warm_start_closes_the_model_with_the_search_parameters(
    capfd, make_problem, visit, clerk
) -> None:
    """A warm start is read after the model is closed with the search's own parameters (no
    "Model already closed"), and the first solution is exactly the warm plan's routes."""
    visits = [visit(f"v{i}", (i * 7) % 11 + 1, north_km=(i * 3) % 5) for i in range(6)]
    problem = make_problem(visits, [clerk("k1"), clerk("k2")])
    # A deliberately poor plan: every visit with k2, in id order.
    poor = OrToolsSolver().solve(
        make_problem(visits, [clerk("k2")]),
        SolveParams(solution_limit=1, guided_local_search=False),
    )
    poor_routes = {r.clerk_id: [s.visit_id for s in r.stops] for r in poor.routes}
    capfd.readouterr()
    warm = OrToolsSolver().solve(
        problem, SolveParams(solution_limit=1, guided_local_search=False, initial=poor)
    )
    assert "already closed" not in capfd.readouterr().err
    assert {r.clerk_id: [s.visit_id for s in r.stops] for r in warm.routes} == poor_routes


def _benchmark_day(monkeypatch, n_visits: int, seed: int):
    """A realistic day of ``benchmarks/home_visits.py`` (depots, lunches, caps, skills)."""
    import importlib
    from pathlib import Path

    from routing.model import build_problem
    from routing.travel import GeodesicTravelModel

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    visits, clerks = importlib.import_module("home_visits").day(n_visits, seed)
    return build_problem(visits, clerks, GeodesicTravelModel(ellipsoidal=False))


def test_warm_start_of_a_large_day_with_lunches_is_kept(caplog, monkeypatch) -> None:
    """A 500-visit day with lunches from a VROOM plan: OR-Tools restores the start (within
    ``lns_time_limit``, which its 0.1 s default did not allow) instead of rejecting it as
    ROUTING_FAIL and searching from scratch; the first solution is the warm plan."""
    import logging

    from routing._vroom import VroomSolver

    problem = _benchmark_day(monkeypatch, 500, 1)
    start = VroomSolver(threads=2).solve(problem, SolveParams(time_limit_s=1.0))
    with caplog.at_level(logging.WARNING, logger="routing._ortools"):
        warm = OrToolsSolver().solve(
            problem,
            SolveParams(solution_limit=1, guided_local_search=False, initial=start, workers=1),
        )
    assert "rejected the warm start" not in caplog.text
    assert check_plan(problem, warm) == []
    assert warm.served == start.served and warm.objective <= start.objective


def test_a_served_visit_is_moved_aside_to_serve_one_more(monkeypatch) -> None:
    """On a tight day (visit caps, lunches, one-hour windows) the search relocates a served
    visit to make room for an unserved one: within 3,000 branches OR-Tools serves all 30
    visits of benchmark day 30/1, which it served 29 of without that move."""
    problem = _benchmark_day(monkeypatch, 30, 1)
    plan = OrToolsSolver().solve(
        problem, SolveParams(time_limit_s=None, branch_limit=3_000, workers=1)
    )
    assert check_plan(problem, plan) == []
    assert plan.served == 30


def test_one_urgent_visit_outweighs_any_number_of_ordinary_ones(make_problem, visit, clerk) -> None:
    """By default no plan drops a higher-priority visit to serve lower-priority ones: with
    time for either one priority-1 visit or two ordinary ones, the priority-1 one is served."""
    at_nine = (TimeWindow(9 * H, 9 * H),)
    visits = [
        visit("urgent", 5, service_s=2 * H, windows=at_nine, priority=1),
        visit("a", 0.5, service_s=3000, windows=at_nine),
        visit("b", 0.6, service_s=3000, windows=(TimeWindow(9 * H + 3000, 10 * H),)),
    ]
    problem = make_problem(visits, [clerk("k1", shift_end_s=11 * H + 1800)])
    plan = solve(problem)
    assert [s.visit_id for r in plan.routes for s in r.stops] == ["urgent"]


def test_lexicographic_penalties(make_problem, visit, clerk) -> None:
    """Each priority level's penalty exceeds all lower levels' penalties together plus any
    routing cost; within a level one more visit outweighs every must-do extra."""
    from routing.model import route_cost_bound, visit_penalties

    visits = [visit(f"v{i}", 1 + i, priority=i % 3, deferrable=i % 2 == 0) for i in range(9)]
    problem = make_problem(visits, [clerk("k1")])
    weights = FEW.weights
    penalties = visit_penalties(problem, weights)
    bound = route_cost_bound(problem, weights)
    for level in (1, 2):
        lower = sum(p for p, v in zip(penalties, visits, strict=True) if v.priority < level)
        least = min(p for p, v in zip(penalties, visits, strict=True) if v.priority == level)
        assert least > lower + bound
    must = [
        p for p, v in zip(penalties, visits, strict=True) if v.priority == 0 and not v.deferrable
    ]
    may = [p for p, v in zip(penalties, visits, strict=True) if v.priority == 0 and v.deferrable]
    assert min(must) > max(may) and min(may) > sum(m - min(may) for m in must) + bound


def test_vroom_serves_priority_before_count(make_problem, visit, clerk) -> None:
    """VROOM's priorities are spaced so that one priority-2 visit outweighs both
    priority-1 visits it conflicts with."""
    from routing._vroom import VroomSolver, vroom_priorities

    at_nine = (TimeWindow(9 * H, 9 * H),)
    visits = [
        visit("p2", 5, service_s=2 * H, windows=at_nine, priority=2),
        visit("a", 0.5, service_s=3000, windows=at_nine, priority=1),
        visit("b", 0.6, service_s=3000, windows=(TimeWindow(9 * H + 3000, 10 * H),), priority=1),
    ]
    problem = make_problem(visits, [clerk("k1", shift_end_s=11 * H + 1800)])
    assert vroom_priorities(problem) == (1, 0, 0)
    plan = VroomSolver(threads=1).solve(problem, FEW)
    assert [s.visit_id for r in plan.routes for s in r.stops] == ["p2"]


def test_vroom_priorities_stay_lexicographic_on_a_large_day(make_problem, visit, clerk) -> None:
    """VROOM bounds each priority by 100, not their sum: with the levels of a 200-visit day
    (140 ordinary, 40 priority-2, 20 priority-3 visits) a priority-3 visit is worth 41 and
    outweighs all 40 priority-2 ones together (the sum was bounded, so the levels were
    spread 0/50/100 and two priority-2 visits outweighed a priority-3 one)."""
    from routing._vroom import vroom_priorities

    levels = [1] * 140 + [2] * 40 + [3] * 20
    visits = [visit(f"v{i}", 1 + i % 9, priority=p) for i, p in enumerate(levels)]
    problem = make_problem(visits, [clerk("k1")])
    value = dict(zip(levels, vroom_priorities(problem), strict=True))
    assert value == {1: 0, 2: 1, 3: 41}
    # Beyond 100 the levels are spread by rank: 160 priority-2 visits would need 161.
    crowded = make_problem(
        [visit(f"v{i}", 1, priority=p) for i, p in enumerate([1] + [2] * 160 + [3])],
        [clerk("k1")],
    )
    assert sorted(set(vroom_priorities(crowded))) == [0, 50, 100]


def test_the_local_search_starts_after_the_worker_picked_up_its_job() -> None:
    """In a race the in-process search begins only once the worker has begun its job, so
    both get the same time (CLOCK_MONOTONIC is shared by the processes of a machine)."""
    import time

    from routing import _portfolio

    # The worker's own report of its start, not a clock read after it: the worker may be
    # scheduled a few microseconds after the caller wakes up.
    local_start, remote_start = _portfolio.race(time.monotonic, [(_portfolio.began_at, ())])
    assert isinstance(remote_start, float) and isinstance(local_start, float)
    assert 0 < remote_start <= local_start


def test_a_worker_announces_its_job_before_running_it(monkeypatch) -> None:
    """The start is announced before the job runs, never after it has ended."""
    from routing import _portfolio

    events: list[str] = []

    class Announce:
        def release(self) -> None:
            events.append("announced")

    monkeypatch.setattr(_portfolio, "_worker_started", Announce())
    assert _portfolio._run_job(lambda: events.append("ran") or 7, ()) == 7
    assert events == ["announced", "ran"]


def test_routing_reads_only_a_monotonic_clock() -> None:
    """No deadline in the routing library comes from the wall clock (time.time)."""
    from pathlib import Path

    import routing

    sources = Path(routing.__file__).parent.glob("*.py")
    assert [p.name for p in sources if "time.time(" in p.read_text(encoding="utf-8")] == []


def test_every_engine_plan_is_retimed_to_its_least_working_time(make_problem, visit, clerk) -> None:
    """VROOM leaves at shift start and waits; its order is re-timed so the clerk leaves just
    in time, so plans of different engines compare on their orders, not their clocks."""
    from routing._vroom import VroomSolver

    problem = make_problem(
        [visit("pm", 2, windows=(TimeWindow(13 * H + 1800, 17 * H),))], [clerk("k1")]
    )
    (route,) = VroomSolver(threads=1).solve(problem, FEW).routes
    assert route.start_s == 13 * H + 1800 - 200
    assert route.working_s == 200 + 600 + 200
