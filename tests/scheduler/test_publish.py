"""Publishing: bookings scheduled in one-hour windows, notices queued; republishing
notifies only residents whose window changed."""

from __future__ import annotations

from typing import Any

import pytest
from booking_support import NOW
from ops_support import PARAMS, SOLVER, VISIT_DAY, book, clear_ledger
from sqlalchemy import select, update

from scheduler.booking import SYSTEM, to_local
from scheduler.models import Booking, BookingEvent, Slot, Status
from scheduler.notify.models import Notice
from scheduler.planning import engine as eng
from scheduler.planning import service as planning
from scheduler.planning.publish import PublishError, publish


@pytest.fixture
def drafted(engine: Any, seeded: Any, service: Any) -> Any:
    clear_ledger(engine)
    with seeded() as s:
        s.execute(update(Slot).values(capacity=8))
        book(service, s, n=3, towns=["331126001", "331126002"])
        book(service, s, n=1, towns=["331126001"], start=3, confirm=False)  # still pending
        planning.plan_day(
            s, VISIT_DAY, catalog=service.catalog, now=NOW, params=PARAMS, solver=SOLVER
        )
        s.commit()
    return seeded


def test_publish_schedules_each_booking_in_a_one_hour_window(drafted: Any, service: Any) -> None:
    """Every planned booking is 已排班 with its clerk and an hour inside its half-day."""
    with drafted() as s:
        v = planning.latest(s, VISIT_DAY)
        assert v is not None
        result = publish(s, v, service, now=NOW, actor=SYSTEM)
        s.commit()
        rows = s.scalars(select(Booking)).all()
        notices = s.scalars(select(Notice).where(Notice.kind == "scheduled")).all()
    assert result.scheduled == 4
    for b in rows:
        assert b.status == Status.SCHEDULED and b.assigned_clerk_id is not None
        start, end = to_local(b.window_start), to_local(b.window_end)  # type: ignore[arg-type]
        assert (end - start).seconds == 3600
        assert start.hour >= 8 and end.hour <= 12
    assert len(notices) == 4
    assert v.status == "published"


def test_republish_notifies_only_changed_windows(drafted: Any, service: Any) -> None:
    """An edit that moves one visit by an hour, republished: one window_changed notice."""
    with drafted() as s:
        v1 = planning.latest(s, VISIT_DAY)
        assert v1 is not None
        publish(s, v1, service, now=NOW, actor=SYSTEM)
        s.commit()
        problem, plan, _ = planning.loaded(v1)
        route = plan.routes[0]
        order = [st.visit_id for st in route.stops]
        order.reverse()  # the last visit first: its time moves by more than an hour
        edited, violations = eng.reroute(problem, plan, {route.clerk_id: order})
        assert violations == []
        v2 = planning.store_edit(s, v1, edited, catalog=service.catalog, now=NOW, staff_id=None)
        result = publish(s, v2, service, now=NOW, actor=SYSTEM)
        s.commit()
        changed = s.scalars(select(Notice).where(Notice.kind == "window_changed")).all()
        events = s.scalars(select(BookingEvent).where(BookingEvent.action == "rescheduled")).all()
        old = s.get(type(v1), v1.id)
    assert 1 <= len(changed) <= result.changed
    assert len(events) == result.changed
    assert result.unchanged + result.changed == 4
    assert old is not None and old.status == "superseded"


def test_publishing_twice_or_an_old_version_is_refused(drafted: Any, service: Any) -> None:
    """The same version cannot be published twice; an older one not after a newer exists."""
    with drafted() as s:
        v1 = planning.latest(s, VISIT_DAY)
        assert v1 is not None
        publish(s, v1, service, now=NOW, actor=SYSTEM)
        with pytest.raises(PublishError) as e:
            publish(s, v1, service, now=NOW, actor=SYSTEM)
        assert e.value.code == "already_published"
        planning.plan_day(
            s, VISIT_DAY, catalog=service.catalog, now=NOW, params=PARAMS, solver=SOLVER
        )
        v1.status = "draft"
        with pytest.raises(PublishError) as e:
            publish(s, v1, service, now=NOW, actor=SYSTEM)
        assert e.value.code == "not_latest"


def test_reroute_recomputes_times_and_reports_violations(drafted: Any, service: Any) -> None:
    """Moving a county-town visit to the west zone's clerk is checked before anything is
    saved: times recomputed, the skill/zone violation listed, the stored version unchanged."""
    with drafted() as s:
        v = planning.latest(s, VISIT_DAY)
        assert v is not None
        before = v.plan_json
        problem, plan, _ = planning.loaded(v)
        route = plan.routes[0]
        moved = route.stops[0].visit_id
        west = "1"  # seed(): clerk 1 is out in the west zone
        assert west not in {r.clerk_id for r in plan.routes}
        edited, violations = eng.reroute(
            problem,
            plan,
            {route.clerk_id: [st.visit_id for st in route.stops[1:]], west: [moved]},
        )
        (new_route,) = [r for r in edited.routes if r.clerk_id == west]
        assert new_route.stops[0].visit_id == moved
        assert new_route.stops[0].arrival_s > new_route.start_s
        assert {x.code for x in violations} == {"skill"}
        assert all(x.visit_id == moved for x in violations)
        s.refresh(v)
        assert v.plan_json == before
