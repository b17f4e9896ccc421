"""Capacity from shifts, skills and travel; the operations demo keeps its promise."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from booking_support import NOW, test_keyring

from guide.catalog import load
from scheduler import db
from scheduler.booking import BookingService, ensure_zones
from scheduler.models import Clerk, Slot
from scheduler.planning import bookings as bk
from scheduler.planning import capacity
from scheduler.planning.capacity import PlanCapacity, ZoneTravel, visits_possible
from scheduler.protect import Protector
from scheduler.settings import QINGYUAN_ZONES, BookingSettings
from scheduler.workdays import WorkCalendar

ZONES = {z.code: z for z in QINGYUAN_ZONES}


def test_far_zones_hold_fewer_visits() -> None:
    """The same clerk makes more visits in the county town than in a zone an hour out."""
    near = visits_possible("am", alone=True, service=1800, zt=ZoneTravel(600, 900))
    far = visits_possible("am", alone=True, service=1800, zt=ZoneTravel(3600, 1800))
    assert near > far >= 1
    assert visits_possible("am", alone=True, service=1800, zt=ZoneTravel(4 * 3600, 0)) == 0


def test_a_clerk_out_all_day_need_not_be_back_at_noon() -> None:
    """Out both half-days, the morning's return can fall in the lunch break: more room."""
    zt = ZoneTravel(2400, 900)
    assert visits_possible("am", alone=False, service=1800, zt=zt) > visits_possible(
        "am", alone=True, service=1800, zt=zt
    )


def test_an_afternoon_ends_with_the_drive_back_even_for_a_clerk_out_all_day() -> None:
    """The afternoon is the day's last half: out in the morning too or not, the clerk must
    be back at the hall by the shift's end (found when a far zone's afternoon accepted two
    hour-long visits that no route could hold)."""
    zt = ZoneTravel(3600, 900)
    out_all_day = visits_possible("pm", alone=False, service=3600, zt=zt)
    assert out_all_day == visits_possible("pm", alone=True, service=3600, zt=zt)
    # 13:30 + 1 h out = 14:30 first; the last visit must start by 17:30 - 1 h back - 1 h.
    assert out_all_day == 1


def test_slot_capacity_counts_per_skill_only_clerks_with_the_skill() -> None:
    """Per skill, only clerks holding it count; the total counts every clerk on shift."""
    catalog = load()
    days = [
        bk.ClerkDay(1, "甲", frozenset({"social-insurance"}), {"am": "city"}),
        bk.ClerkDay(2, "乙", frozenset({"household-photo"}), {"am": "city"}),
        bk.ClerkDay(3, "丙", frozenset({"household-photo"}), {"am": "west"}),
    ]
    cap = capacity.slot_capacity(catalog, ZONES["city"], "am", days)
    one = capacity.slot_capacity(catalog, ZONES["city"], "am", days[:1])
    assert cap.total == 2 * one.total
    assert set(cap.per_skill) == {"social-insurance", "household-photo"}
    assert capacity.slot_capacity(catalog, ZONES["city"], "pm", days).total == 0


@pytest.mark.slow
def test_demo_days_are_planned_with_no_accepted_booking_unassigned(tmp_path: Any) -> None:
    """Two weeks of demo bookings under capacity from the shifts: every normal day's plan
    serves every accepted booking (the leave day may not)."""
    from routing._ortools import OrToolsSolver
    from routing.solver import SolveParams
    from scheduler.planning import demo
    from scheduler.planning import service as planning

    url = f"sqlite:///{tmp_path}/d.sqlite3"
    db.upgrade(url)
    engine = db.make_engine(url)
    _, write = db.session_factories(engine)
    catalog = load()
    service = BookingService(
        catalog, BookingSettings(), Protector(test_keyring()), capacity_rule=PlanCapacity(catalog)
    )
    cal = WorkCalendar()
    days = cal.working_days_between(date(2026, 6, 2), date(2026, 6, 8))
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        clerks = [
            Clerk(name=n, skills=k)
            for n, k in (
                ("甲", "social-insurance,medical-insurance"),
                ("乙", "household-photo,social-insurance"),
                ("丙", "social-insurance,civil-affairs,real-estate"),
                ("丁", "disability-assessment,civil-affairs,social-insurance"),
            )
        ]
        s.add_all(clerks)
        s.flush()
        codes = list(ZONES)
        for n, day in enumerate(days):
            for h, half in enumerate(("am", "pm")):
                for k, c in enumerate(clerks):
                    service.add_shift(s, c.id, codes[(k + n + h) % len(codes)], day, half)
        made = demo.load_bookings(s, service, QINGYUAN_ZONES, days, now=NOW)
        s.commit()
        assert made >= 4 * len(days) * 0.75
        for slot in s.query(Slot).filter(Slot.booked > 0):
            assert slot.booked <= slot.capacity
        params = SolveParams(branch_limit=None, guided_local_search=False)
        for day in days:
            v = planning.plan_day(
                s, day, catalog=catalog, now=NOW, params=params, solver=OrToolsSolver()
            )
            figs = json.loads(v.figures_json)
            assert figs["unassigned"] == 0, (day, json.loads(v.plan_json)["unassigned"])
            assert figs["lateness_s"] == 0
    engine.dispose()
    assert datetime.now(UTC) > NOW
