"""Places per skill: a booking takes a place in its slot and in its skill's share of it,
under concurrency too; the plan-aware rule sets both from the shifts and absences."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from booking_support import NOW, make_id, make_phone, payload, test_keyring
from sqlalchemy import select

from scheduler import db
from scheduler.booking import Actor, BookingService, Places, ensure_zones, sync_day
from scheduler.errors import SlotFull
from scheduler.models import Booking, Clerk, Slot, SlotSkill, Status
from scheduler.planning import bookings as bk
from scheduler.planning.capacity import PlanCapacity, slot_capacity
from scheduler.planning.models import Adjustment
from scheduler.protect import Protector
from scheduler.schemas import BookingRequest
from scheduler.settings import QINGYUAN_ZONES

DAY = date(2026, 6, 2)  # NOW is 1 June 10:00, before the 17:00 cut-off for 2 June
PENSION = "resident-pension-claim"  # needs social-insurance, 30 minutes
ID_CARD = "id-card-home"  # needs household-photo, 40 minutes
PENSION_S, ID_CARD_S = 1800, 2400
ZONES = {z.code: z for z in QINGYUAN_ZONES}
STAFF = Actor("staff", "phone", role="window")


@dataclass(frozen=True)
class GivenPlaces:
    """A capacity rule with the places written down (the booking side's contract only)."""

    given: Mapping[tuple[str, str], Places]

    @property
    def skill_aware(self) -> bool:
        return True

    def places(self, session: Any, day: date) -> Mapping[tuple[str, str], Places]:
        return self.given if day == DAY else {}


def req(i: int, item: str = PENSION, half_day: str = "am") -> BookingRequest:
    body = payload(
        item=item,
        date=DAY.isoformat(),
        half_day=half_day,
        applicant={
            "name": "吴秀英",
            "id_number": make_id(date(1940, 3, 5), i),
            "phone": make_phone(i),
        },
    )
    return BookingRequest.model_validate(body, strict=False)


def service_with(catalog: Any, settings: Any, given: Mapping[tuple[str, str], Places]) -> Any:
    return BookingService(
        catalog, settings, Protector(test_keyring()), capacity_rule=GivenPlaces(given)
    )


def west(s: Any, half: str) -> Slot:
    return s.scalars(
        select(Slot).where(Slot.zone_code == "west", Slot.date == DAY, Slot.half_day == half)
    ).one()


def test_a_skill_without_room_refuses_though_the_slot_has_places(
    catalog: Any, settings: Any, seeded: Any
) -> None:
    """The morning has 3 places, one for social insurance and none for photos: a second
    pension claim and any photo visit are refused (the place given back), and the answer
    offers the afternoon, which has room for the skill; slot lists count per item."""
    svc = service_with(
        catalog,
        settings,
        {
            ("west", "am"): Places(3, {"social-insurance": PENSION_S, "household-photo": 0}),
            ("west", "pm"): Places(
                3, {"social-insurance": 2 * PENSION_S, "household-photo": ID_CARD_S}
            ),
        },
    )
    with seeded() as s:
        sync_day(s, DAY, svc.capacity_rule)
        svc.create(s, req(1), now=NOW)
        with pytest.raises(SlotFull) as full:
            svc.create(s, req(2), now=NOW)
        alts = full.value.extra["alternatives"]
        assert (alts[0]["date"], alts[0]["half_day"]) == (DAY.isoformat(), "pm")
        with pytest.raises(SlotFull):
            svc.create(s, req(3, item=ID_CARD), now=NOW)
        assert west(s, "am").booked == 1
        svc.create(s, req(4, item=ID_CARD, half_day="pm"), now=NOW)
        s.commit()
        town = "331126205"
        day_slots = {
            v.half_day: v.remaining
            for v in svc.slots(s, town, NOW, item=PENSION, staff=True)
            if v.date == DAY
        }
        assert day_slots == {"am": 0, "pm": 2}
        photo = {
            v.half_day: v.remaining
            for v in svc.slots(s, town, NOW, item=ID_CARD, staff=True)
            if v.date == DAY
        }
        assert photo == {"am": 0, "pm": 0}
        anything = {
            v.half_day: v.remaining for v in svc.slots(s, town, NOW, staff=True) if v.date == DAY
        }
        assert anything == {"am": 2, "pm": 2}


def test_moving_into_a_slot_without_room_for_the_skill_is_refused(
    catalog: Any, settings: Any, seeded: Any
) -> None:
    """A move takes the new slot's skill place too; refused, nothing changes."""
    svc = service_with(
        catalog,
        settings,
        {
            ("west", "am"): Places(3, {"social-insurance": 3 * PENSION_S}),
            ("west", "pm"): Places(3, {"social-insurance": PENSION_S}),
        },
    )
    with seeded() as s:
        sync_day(s, DAY, svc.capacity_rule)
        svc.create(s, req(1, half_day="pm"), now=NOW)
        b = svc.by_reference(s, svc.create(s, req(2), now=NOW).reference)
        s.commit()
        with pytest.raises(SlotFull):
            svc.move(s, b, DAY, "pm", now=NOW, actor=STAFF)
        s.rollback()
        b = svc.by_reference(s, b.reference)
        assert (b.half_day, west(s, "am").booked, west(s, "pm").booked) == ("am", 1, 1)


def test_concurrent_bookers_of_a_skill_get_exactly_its_places(
    catalog: Any, settings: Any, engine: Any, seeded: Any
) -> None:
    """Twelve residents book pension claims at once into a morning with 10 places of which
    3 are for social insurance: exactly 3 are accepted, on SQLite and PostgreSQL."""
    svc = service_with(
        catalog, settings, {("west", "am"): Places(10, {"social-insurance": 3 * PENSION_S})}
    )
    with seeded() as s:
        sync_day(s, DAY, svc.capacity_rule)
        s.commit()
    _, write = db.session_factories(engine)
    barrier = threading.Barrier(12)

    def book(i: int) -> str:
        request = req(100 + i)
        with write() as s:
            barrier.wait()
            try:
                svc.create(s, request, now=NOW)
                s.commit()
                return "ok"
            except SlotFull:
                s.rollback()
                return "full"

    with ThreadPoolExecutor(12) as pool:
        results = sorted(pool.map(book, range(12)))
    assert results == ["full"] * 9 + ["ok"] * 3
    with write() as s:
        assert west(s, "am").booked == 3
        held = s.scalars(select(Booking).where(Booking.status == Status.PENDING)).all()
        assert len(held) == 3


def test_a_rule_that_no_longer_gives_places_closes_the_slot(
    catalog: Any, settings: Any, seeded: Any
) -> None:
    """Re-syncing a date sets slots the rule leaves out to 0 and replaces skill rows."""
    given: dict[tuple[str, str], Places] = {
        ("west", "am"): Places(2, {"social-insurance": PENSION_S})
    }
    svc = service_with(catalog, settings, given)
    with seeded() as s:
        sync_day(s, DAY, svc.capacity_rule)
        assert west(s, "am").capacity == 2 and west(s, "pm").capacity == 0
        given.clear()
        given[("west", "pm")] = Places(1, {"household-photo": ID_CARD_S})
        svc.sync_day(s, DAY)
        assert (west(s, "am").capacity, west(s, "pm").capacity) == (0, 1)
        rows = s.execute(
            select(SlotSkill.slot_id, SlotSkill.skill, SlotSkill.service_s).where(
                SlotSkill.slot_id.in_([west(s, "am").id, west(s, "pm").id])
            )
        ).all()
        assert [(r[1], r[2]) for r in rows] == [("household-photo", ID_CARD_S)]


def test_plan_capacity_follows_shifts_and_absences(
    catalog: Any, settings: Any, engine: Any
) -> None:
    """With the plan-aware rule a shift adds what that clerk can make, per skill; a clerk
    marked absent takes it away again."""
    svc = BookingService(
        catalog, settings, Protector(test_keyring()), capacity_rule=PlanCapacity(catalog)
    )
    _, write = db.session_factories(engine)
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        a = Clerk(name="甲", skills="social-insurance")
        b = Clerk(name="乙", skills="household-photo,social-insurance")
        s.add_all([a, b])
        s.flush()
        svc.add_shift(s, a.id, "city", DAY, "am")
        one = slot_capacity(catalog, ZONES["city"], "am", bk.clerk_days(s, DAY))
        assert one.total >= 2
        slot = s.scalars(select(Slot).where(Slot.zone_code == "city", Slot.date == DAY)).one()

        def skills() -> dict[str, int]:
            rows = s.execute(
                select(SlotSkill.skill, SlotSkill.service_s).where(SlotSkill.slot_id == slot.id)
            )
            return {str(k): int(n) for k, n in rows}

        assert slot.capacity == one.total
        assert skills() == {"social-insurance": one.total * PENSION_S, "household-photo": 0}
        svc.add_shift(s, b.id, "city", DAY, "am")
        s.refresh(slot)
        assert slot.capacity == 2 * one.total
        assert skills()["household-photo"] >= ID_CARD_S
        assert skills()["social-insurance"] == 2 * one.total * PENSION_S
        s.add(
            Adjustment(date=DAY, kind="absent", clerk_id=b.id, created_at=NOW.replace(tzinfo=None))
        )
        s.flush()
        svc.sync_day(s, DAY)
        s.refresh(slot)
        assert slot.capacity == one.total
        assert skills() == {"social-insurance": one.total * PENSION_S, "household-photo": 0}


def test_long_visits_take_more_of_a_skill_s_time(catalog: Any, settings: Any, seeded: Any) -> None:
    """A skill's share is time, not a count: an hour of social insurance holds one
    60-minute visit or two 30-minute ones, never a 60-minute one after a 30-minute one."""
    from dataclasses import replace

    from booking_support import HomeVisit, Item

    long_visit = Item(
        "pension-long", "养老待遇重新核定（上门）", "rsj", HomeVisit(True, 60, "social-insurance")
    )
    wider = replace(catalog, items={**catalog.items, long_visit.code: long_visit})
    hour = {"social-insurance": 2 * PENSION_S}
    svc = service_with(
        wider, settings, {("west", "am"): Places(5, hour), ("west", "pm"): Places(5, hour)}
    )
    with seeded() as s:
        sync_day(s, DAY, svc.capacity_rule)
        svc.create(s, req(1, item=long_visit.code), now=NOW)
        with pytest.raises(SlotFull):
            svc.create(s, req(2), now=NOW)
        svc.create(s, req(3, half_day="pm"), now=NOW)
        left = {
            v.half_day: v.remaining
            for v in svc.slots(s, "331126205", NOW, item=long_visit.code, staff=True)
            if v.date == DAY
        }
        assert left == {"am": 0, "pm": 0}
        svc.create(s, req(4, half_day="pm"), now=NOW)
        assert (west(s, "am").booked, west(s, "pm").booked) == (1, 2)
