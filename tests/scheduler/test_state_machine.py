"""Hypothesis state machine over book / cancel / move / confirm / schedule / finish."""

from __future__ import annotations

import itertools
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from booking_support import (
    NOW,
    TABLES,
    make_id,
    make_phone,
    seed,
    small_catalog,
    test_keyring,
    test_settings,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from scheduler import db
from scheduler.booking import SYSTEM, Actor, BookingService
from scheduler.errors import BookingError, Conflict, SlotFull
from scheduler.models import HOLDING, Booking, BookingEvent, Slot, Status
from scheduler.protect import Protector
from scheduler.schemas import BookingRequest
from scheduler.settings import TZ

DAYS = [date(2026, 6, 2), date(2026, 6, 3), date(2026, 6, 4)]
STAFF = Actor("staff", "phone", role="window")
RESIDENT = Actor("resident", "web")
ALLOWED = {
    Status.PENDING: {Status.CONFIRMED, Status.CANCELLED},
    Status.CONFIRMED: {Status.SCHEDULED, Status.CANCELLED},
    Status.SCHEDULED: {Status.DONE, Status.MISSED, Status.CANCELLED, Status.CONFIRMED},
}


def machine_for(db_url: str, fresh: Any) -> type[RuleBasedStateMachine]:
    class Bookings(RuleBasedStateMachine):
        """The model: per booking its status and half-day; the database must agree."""

        def __init__(self) -> None:
            super().__init__()
            fresh()
            self.engine = db.make_engine(db_url)
            _, self.write = db.session_factories(self.engine)
            self.settings = test_settings(horizon_days=4)
            with self.write() as s:
                seed(s, self.settings, DAYS[0], days=len(DAYS))
                s.commit()
            self.svc = BookingService(small_catalog(), self.settings, Protector(test_keyring()))
            self.model: dict[str, tuple[Status, date, str]] = {}
            self.people = 0

        def teardown(self) -> None:
            self.engine.dispose()

        def _apply(self, ref: str, action: Any) -> None:
            with self.write() as s:
                b = self.svc.by_reference(s, ref)
                before = Status(b.status)
                try:
                    action(s, b)
                    s.commit()
                except BookingError:
                    s.rollback()
                    return
                after = Status(b.status)
                assert after in ALLOWED[before] or (
                    after == before and (b.date, b.half_day) != self.model[ref][1:]
                )
                self.model[ref] = (after, b.date, b.half_day)

        @rule(
            day=st.sampled_from(DAYS),
            half=st.sampled_from(["am", "pm"]),
            town=st.sampled_from(["331126205", "331126101"]),
            repeat=st.booleans(),
        )
        def book(self, day: date, half: str, town: str, repeat: bool) -> None:
            if not repeat or self.people == 0:
                self.people += 1
            who = self.people
            body = {
                "item": "resident-pension-claim",
                "applicant": {
                    "name": "测试",
                    "id_number": make_id(date(1940, 1, 1), who),
                    "phone": make_phone(who),
                },
                "address": {"town_code": town, "detail": "1号"},
                "reason": "age",
                "date": day.isoformat(),
                "half_day": half,
            }
            with self.write() as s:
                try:
                    b = self.svc.create(
                        s, BookingRequest.model_validate(body, strict=False), now=NOW
                    )
                    s.commit()
                except (SlotFull, Conflict):
                    s.rollback()
                    return
                self.model[b.reference] = (Status.PENDING, day, half)

        def _refs(self) -> list[str]:
            # Creation order, not sorted: references are random, so sorting them would make
            # the same drawn index pick different bookings when Hypothesis replays a case.
            return list(self.model)

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data(), staff=st.booleans())
        def cancel(self, data: Any, staff: bool) -> None:
            ref = data.draw(st.sampled_from(self._refs()))
            self._apply(
                ref, lambda s, b: self.svc.cancel(s, b, now=NOW, actor=STAFF if staff else RESIDENT)
            )

        @precondition(lambda self: bool(self.model))
        @rule(
            data=st.data(),
            day=st.sampled_from(DAYS),
            half=st.sampled_from(["am", "pm"]),
            staff=st.booleans(),
        )
        def move(self, data: Any, day: date, half: str, staff: bool) -> None:
            ref = data.draw(st.sampled_from(self._refs()))
            actor = STAFF if staff else RESIDENT
            self._apply(ref, lambda s, b: self.svc.move(s, b, day, half, now=NOW, actor=actor))

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data())
        def confirm(self, data: Any) -> None:
            ref = data.draw(st.sampled_from(self._refs()))
            self._apply(ref, lambda s, b: self.svc.confirm(s, b, now=NOW, actor=STAFF))

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data())
        def schedule(self, data: Any) -> None:
            ref = data.draw(st.sampled_from(self._refs()))

            def go(s: Any, b: Booking) -> None:
                start = datetime.combine(b.date, datetime.min.time(), tzinfo=TZ) + timedelta(
                    hours=9
                )
                self.svc.schedule(
                    s,
                    b,
                    clerk_id=1,
                    start=start,
                    end=start + timedelta(hours=1),
                    now=NOW,
                    actor=SYSTEM,
                )

            self._apply(ref, go)

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data(), outcome=st.sampled_from([Status.DONE, Status.MISSED]))
        def finish(self, data: Any, outcome: Status) -> None:
            ref = data.draw(st.sampled_from(self._refs()))
            self._apply(ref, lambda s, b: self.svc.finish(s, b, outcome, now=NOW, actor=STAFF))

        @invariant()
        def capacity_and_counts_agree(self) -> None:
            with self.write() as s:
                for slot in s.scalars(select(Slot)):
                    holding = s.scalar(
                        select(func.count())
                        .select_from(Booking)
                        .where(Booking.slot_id == slot.id, Booking.status.in_(HOLDING))
                    )
                    assert slot.booked == holding, (slot.zone_code, slot.date, slot.half_day)
                    assert 0 <= slot.booked <= slot.capacity

        @invariant()
        def database_matches_model(self) -> None:
            with self.write() as s:
                rows = {
                    b.reference: (Status(b.status), b.date, b.half_day)
                    for b in s.scalars(select(Booking))
                }
                assert rows == self.model
                for b in s.scalars(select(Booking)):
                    events = s.scalars(
                        select(BookingEvent)
                        .where(BookingEvent.booking_id == b.id)
                        .order_by(BookingEvent.id)
                    ).all()
                    assert events[0].from_status is None and events[-1].to_status == b.status
                    assert all(e.from_status == p.to_status for p, e in itertools.pairwise(events))
                    assert (b.window_start is not None) == (
                        b.status in (Status.SCHEDULED, Status.DONE, Status.MISSED)
                    )

    return Bookings


def test_bookings_state_machine(db_url: str, tmp_path: Path) -> None:
    """Any operation sequence keeps booked == holding bookings ≤ capacity, and an audit chain."""
    if db_url.startswith("sqlite"):
        path = Path(db_url[len("sqlite:///") :])
        template = tmp_path / "empty.sqlite3"
        shutil.copy(path, template)

        def fresh() -> None:
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            shutil.copy(template, path)

    else:

        def fresh() -> None:
            engine = db.make_engine(db_url)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            engine.dispose()

    run_state_machine_as_test(
        machine_for(db_url, fresh),
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
