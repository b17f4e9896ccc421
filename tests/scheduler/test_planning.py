"""Planning a date: the problem from bookings and shifts, the stored version, explanations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from booking_support import NOW
from ops_support import PARAMS, SOLVER, VISIT_DAY, book, clear_ledger
from sqlalchemy import select, update

from scheduler.models import Clerk, Shift, Slot
from scheduler.planning import service as planning
from scheduler.planning.models import PlanVersion


@pytest.fixture
def day_db(engine: Any, seeded: Any, service: Any) -> Any:
    """Seeded database with room for 8 bookings per zone and half-day."""
    clear_ledger(engine)
    with seeded() as s:
        s.execute(update(Slot).values(capacity=8))
        s.commit()
    return seeded


def plan(s: Any, service: Any, **kw: Any) -> PlanVersion:
    return planning.plan_day(
        s, VISIT_DAY, catalog=service.catalog, now=NOW, params=PARAMS, solver=SOLVER, **kw
    )


def test_problem_takes_duration_skill_location_and_half_day(day_db: Any, service: Any) -> None:
    """A visit's service time and skill come from the catalog item, its window from the
    half-day, its place from the booking; clerks start at the county hall."""
    with day_db() as s:
        (b,) = book(service, s, n=1, towns=["331126205"], half_day="pm", item="id-card-home")
        v = plan(s, service)
        problem = json.loads(v.problem_json)
    (visit,) = problem["visits"]
    assert visit["id"] == str(b.id)
    assert visit["service_s"] == 40 * 60
    assert visit["windows"] == [[13 * 3600 + 1800, 17 * 3600]]
    assert visit["skill"] == "household-photo@west/pm"
    assert abs(visit["lat"] - 27.55) < 0.1  # 隆宫 (WGS-84)
    assert all(c["start"] == problem["clerks"][0]["start"] for c in problem["clerks"])


def test_plan_serves_bookings_and_stores_a_checked_version(day_db: Any, service: Any) -> None:
    """Four morning bookings in the county town and two in 官塘: all served, lateness 0."""
    with day_db() as s:
        book(service, s, n=4, towns=["331126001", "331126002", "331126003"])
        book(service, s, n=2, towns=["331126211"], start=4)
        v = plan(s, service)
        s.commit()
        figs = json.loads(v.figures_json)
    assert (figs["booked"], figs["served"], figs["unassigned"], figs["lateness_s"]) == (6, 6, 0, 0)
    assert v.version == 1 and v.status == "draft"
    assert figs["travel_km"] > 0


def test_versions_are_kept(day_db: Any, service: Any) -> None:
    """Planning again writes version 2 and keeps version 1 unchanged."""
    with day_db() as s:
        book(service, s, n=3)
        v1 = plan(s, service)
        first = v1.plan_json
        v2 = plan(s, service)
        s.commit()
        rows = s.scalars(select(PlanVersion).order_by(PlanVersion.version)).all()
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].plan_json == first
    assert v2.based_on == v1.id


def test_no_clerk_with_the_skill_is_explained_with_a_fix(day_db: Any, service: Any) -> None:
    """An ID-card visit where nobody photographs: no_skill, with a Chinese message and fix."""
    with day_db() as s:
        (b,) = book(service, s, n=1, towns=["331126001"], item="id-card-home")
        s.execute(update(Clerk).values(skills="social-insurance"))
        v = plan(s, service)
        data = json.loads(v.plan_json)
    (u,) = data["unassigned"]
    assert u["visit_id"] == str(b.id) and u["reason"] == "no_skill"
    assert "户籍拍照采集" in u["message"] and "城区" in u["message"]
    assert "安排" in u["fix"]


def test_full_route_names_the_binding_constraint(day_db: Any, service: Any) -> None:
    """A morning with more visits than one clerk can make: the one left out says whose
    morning is full and by how many minutes the shift would have to run over."""
    with day_db() as s:
        s.execute(update(Slot).values(capacity=20))
        s.commit()
        # Long visits in one zone with one clerk: 3.5 h of morning hold at most five.
        book(service, s, n=8, towns=["331126001"], item="id-card-home")
        s.execute(update(Clerk).values(skills="social-insurance,household-photo"))
        v = plan(s, service)
        data = json.loads(v.plan_json)
        figs = json.loads(v.figures_json)
    assert figs["unassigned"] >= 1
    u = data["unassigned"][0]
    assert u["reason"] == "over_capacity"
    assert "上门人员" in u["message"] and "已满" in u["message"] and "分钟" in u["message"]
    assert u["insertions"] and not u["insertions"][0]["feasible"]


def test_absent_clerk_is_left_out_and_pinned_visit_kept(day_db: Any, service: Any) -> None:
    """Absent clerks get no route; a pinned visit goes to its clerk."""
    from scheduler.planning.models import Adjustment

    with day_db() as s:
        bs = book(service, s, n=4, towns=["331126001"])
        extra = Clerk(name="上门人员X", skills="social-insurance")
        s.add(extra)
        s.flush()
        s.add(Shift(clerk_id=extra.id, zone_code="city", date=VISIT_DAY, half_day="am"))
        at = planning.bk.utc_naive(NOW)
        s.add(
            Adjustment(
                date=VISIT_DAY, kind="pin", clerk_id=extra.id, booking_id=bs[0].id, created_at=at
            )
        )
        v = plan(s, service)
        data = json.loads(v.plan_json)
        s.add(Adjustment(date=VISIT_DAY, kind="absent", clerk_id=extra.id, created_at=at))
        v2 = plan(s, service)
        data2 = json.loads(v2.plan_json)
    where = {st[0]: r["clerk_id"] for r in data["routes"] for st in r["stops"]}
    assert where[str(bs[0].id)] == str(extra.id)
    assert str(extra.id) not in {r["clerk_id"] for r in data2["routes"]}


def test_one_hour_window_inside_the_half_day() -> None:
    """The published window is an hour around the start, never outside the half-day."""
    start, end = planning.one_hour_window(VISIT_DAY, 8 * 3600 + 1800, "am")
    assert (start.hour, start.minute, end.hour, end.minute) == (8, 30, 9, 30)
    start, end = planning.one_hour_window(VISIT_DAY, 11 * 3600 + 1800, "am")
    assert (start.hour, end.hour) == (11, 12) and end.minute == 0
    start, end = planning.one_hour_window(VISIT_DAY, 15 * 3600 + 600, "pm")
    assert (start.hour, start.minute, end.hour, end.minute) == (14, 45, 15, 45)


def test_compare_lists_added_dropped_moved_and_shifted(day_db: Any, service: Any) -> None:
    """Comparing two versions names visits added, dropped, moved and shifted > 30 min."""
    with day_db() as s:
        book(service, s, n=3)
        v1 = plan(s, service)
        data = json.loads(v1.plan_json)
        r = data["routes"][0]
        vid = r["stops"][0][0]
        r["stops"][0][2] += 3600
        data["routes"][0]["clerk_id"] = "999"
        data["routes"][-1]["stops"].append(["12345", 0, 40000, 40600, 0, 0, 0])
        v2 = PlanVersion(
            **{
                c: getattr(v1, c)
                for c in ("date", "kind", "problem_json", "figures_json", "created_at")
            }
        )
        v2.version, v2.plan_json = 2, json.dumps(data)
        diff = planning.compare(v1, v2)
    assert {m["visit_id"] for m in diff["moved"]} >= {vid}
    assert any(x["visit_id"] == vid and x["minutes"] == 60 for x in diff["shifted"])
    assert diff["added"][0]["visit_id"] == "12345"
    assert diff["dropped"] == []
