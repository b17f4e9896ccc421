"""The booking service on its own: eligibility, dates, capacity, duplicates, audit, changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from booking_support import NOW, make_id, make_phone, payload, test_settings
from sqlalchemy import select

from scheduler.booking import SYSTEM, Actor, BookingService, WrongPhoneSuffix
from scheduler.errors import (
    Conflict,
    InvalidField,
    LookupLocked,
    NotEligible,
    NotFound,
    SlotFull,
)
from scheduler.models import Booking, BookingEvent, Slot, Status
from scheduler.protect import Keyring, Protector
from scheduler.schemas import BookingRequest
from scheduler.settings import TZ
from scheduler.web.present import to_dict

STAFF = Actor("staff", "phone", staff_id=None, role="window")
DAY = date(2026, 6, 2)  # NOW is 1 June 10:00, before the 17:00 cut-off for 2 June


def req(**over: Any) -> BookingRequest:
    """The shared valid body (booking_support.payload) on DAY, with overrides."""
    body = payload(**{"date": DAY.isoformat(), **over})
    return BookingRequest.model_validate(body, strict=False)


def stored(svc: BookingService, s: Any, request: BookingRequest, **kw: Any) -> Booking:
    """Create a booking and return its stored row, as the service's other methods take it."""
    return svc.by_reference(s, svc.create(s, request, **kw).reference)


def test_booking_is_created_pending_with_protected_fields(
    service: BookingService, seeded: Any
) -> None:
    """A valid request is stored pending; ID hashed and masked, phone and name encrypted."""
    with seeded() as s:
        new = service.create(s, req(), now=NOW)
        s.commit()
        b = service.by_reference(s, new.reference)
        assert (b.id, b.zone_code, b.status) == (new.id, new.zone_code, new.status)
        assert to_dict(service, new, NOW) == to_dict(service, b, NOW)
        assert b.status == Status.PENDING and len(b.reference) == 8
        assert b.id_masked == "3311**************"
        assert b.phone_masked == "139****1234"
        assert "13905781234" not in b.phone_enc and "吴秀英" not in b.applicant_name_enc
        assert service.protector.decrypt(b.phone_enc, field="phone_enc") == "13905781234"
        assert b.age_band == "80-89" and b.eligible_by == "age"
        assert b.zone_code == "west"
        ev = s.scalars(select(BookingEvent)).one()
        assert (ev.action, ev.from_status, ev.to_status, ev.actor_kind, ev.channel) == (
            "created",
            None,
            "pending",
            "resident",
            "web",
        )


@pytest.mark.parametrize(
    ("birth", "reason", "grade", "eligible_by"),
    [
        (date(1946, 6, 1), "other", None, "age"),  # 80 today
        (date(1990, 1, 1), "disability", 2, "disability"),
        (date(1990, 1, 1), "illness", None, "illness"),
        (date(1956, 5, 31), "alone", None, "alone"),  # 70
    ],
)
def test_each_default_rule_admits(
    service: BookingService,
    seeded: Any,
    birth: date,
    reason: str,
    grade: int | None,
    eligible_by: str,
) -> None:
    """80+, disability grade 1–2, illness, and 70+ living alone each qualify."""
    with seeded() as s:
        b = stored(
            service,
            s,
            req(
                applicant={"name": "张三", "id_number": make_id(birth), "phone": "13905781234"},
                reason=reason,
                disability_grade=grade,
            ),
            now=NOW,
        )
        assert b.eligible_by == eligible_by
        assert b.needs_phone_check is (eligible_by == "illness")


@pytest.mark.parametrize(
    ("birth", "reason", "grade"),
    [
        (date(1946, 6, 2), "age", None),  # 79 until tomorrow
        (date(1990, 1, 1), "disability", 3),
        (date(1956, 6, 2), "alone", None),  # 69
        (date(1990, 1, 1), "other", None),
    ],
)
def test_ineligible_gets_reason_and_nearest_station(
    service: BookingService, seeded: Any, birth: date, reason: str, grade: int | None
) -> None:
    """A request no rule admits is refused in Chinese, naming the station of its township."""
    with seeded() as s, pytest.raises(NotEligible) as err:
        service.create(
            s,
            req(
                applicant={"name": "张三", "id_number": make_id(birth), "phone": "13905781234"},
                reason=reason,
                disability_grade=grade,
            ),
            now=NOW,
        )
    assert "80周岁" in err.value.message_zh
    assert err.value.extra["nearest_office"]["id"] == "station-331126205"


def test_eligibility_comes_from_settings(catalog: Any, seeded: Any) -> None:
    """With the age rule set to 90 in settings, an 85-year-old no longer qualifies by age."""
    svc = BookingService(
        catalog,
        test_settings(eligibility=[{"kind": "age", "min_age": 90}]),
        Protector(Keyring.from_legacy_secret(b"x" * 32)),
    )
    with seeded() as s, pytest.raises(NotEligible) as err:
        svc.create(s, req(), now=NOW)
    assert "90周岁" in err.value.message_zh


def test_item_without_home_visits_is_refused(service: BookingService, seeded: Any) -> None:
    """An item that does not allow home visits points to the nearest office instead."""
    with seeded() as s, pytest.raises(NotEligible) as err:
        service.create(s, req(item="business-licence"), now=NOW)
    assert err.value.code == "item_not_home_visit"


@pytest.mark.parametrize(
    ("over", "field", "code"),
    [
        ({"item": "no-such-item"}, "item", "unknown_item"),
        (
            {"address": {"town_code": "330521001", "detail": "x"}},
            "address.town_code",
            "outside_county",
        ),
        (
            {"address": {"town_code": "331126999", "detail": "x"}},
            "address.town_code",
            "unknown_township",
        ),
        ({"date": "2026-06-01"}, "date", "date_in_past"),
        ({"date": "2026-06-16"}, "date", "date_beyond_horizon"),
        ({"reason": "disability"}, "disability_grade", "disability_grade_missing"),
        ({"disability_grade": 1}, "disability_grade", "disability_grade_unexpected"),
        (  # PostgreSQL text cannot hold NUL: stored, it was a 500
            {"address": {"town_code": "331126205", "village": "隆宫村\x00", "detail": "x"}},
            "address.village",
            "hidden_character",
        ),
    ],
)
def test_bad_fields(
    service: BookingService, seeded: Any, over: dict[str, Any], field: str, code: str
) -> None:
    """Unknown item or township, out-of-county address, dates outside the window are 422s."""
    with seeded() as s, pytest.raises(InvalidField) as err:
        service.create(s, req(**over), now=NOW)
    assert (err.value.field, err.value.code) == (field, code)


def test_cutoff_moves_the_first_bookable_date(service: BookingService) -> None:
    """Before 17:00 tomorrow is bookable; from 17:00 only the day after."""
    before = datetime(2026, 6, 1, 16, 59, tzinfo=TZ)
    after = datetime(2026, 6, 1, 17, 0, tzinfo=TZ)
    assert service.first_bookable(before) == date(2026, 6, 2)
    assert service.first_bookable(after) == date(2026, 6, 3)


def test_full_slot_offers_next_dates(service: BookingService, seeded: Any) -> None:
    """When a half-day is full, SlotFull lists later half-days that still have room."""
    with seeded() as s:
        for i in range(2):
            service.create(
                s,
                req(
                    applicant={
                        "name": "甲",
                        "id_number": make_id(date(1940, 1, 1), i),
                        "phone": make_phone(i),
                    }
                ),
                now=NOW,
            )
        with pytest.raises(SlotFull) as err:
            service.create(
                s,
                req(
                    applicant={
                        "name": "乙",
                        "id_number": make_id(date(1940, 1, 1), 9),
                        "phone": make_phone(9),
                    }
                ),
                now=NOW,
            )
    alts = err.value.extra["alternatives"]
    assert alts[0] == {
        "date": "2026-06-02",
        "half_day": "pm",
        "half_day_name": "下午",
        "capacity": 2,
        "remaining": 2,
    }
    assert err.value.status == 409


def test_same_person_same_item_twice_is_a_duplicate(service: BookingService, seeded: Any) -> None:
    """One active booking per person and item; after cancelling, booking again works."""
    with seeded() as s:
        first = stored(service, s, req(), now=NOW)
        with pytest.raises(Conflict) as err:
            service.create(s, req(half_day="pm"), now=NOW)
        assert err.value.code == "duplicate_booking"
        service.cancel(s, first, now=NOW, actor=STAFF)
        assert service.create(s, req(half_day="pm"), now=NOW).status == Status.PENDING


def test_lookup_needs_the_right_phone_suffix(service: BookingService, seeded: Any) -> None:
    """A wrong last-4 gives the same NotFound as an unknown reference."""
    with seeded() as s:
        b = stored(service, s, req(), now=NOW)
        assert service.lookup(s, b.reference.lower(), "1234", now=NOW) is b
        with pytest.raises(Exception) as wrong:
            service.lookup(s, b.reference, "4321", now=NOW)
        with pytest.raises(Exception) as unknown:
            service.lookup(s, "ZZZZZZZZ", "1234", now=NOW)
    assert isinstance(wrong.value, NotFound) and isinstance(unknown.value, NotFound)
    assert wrong.value.status == unknown.value.status
    assert wrong.value.body() == unknown.value.body()


def test_too_many_wrong_suffixes_lock_the_reference_for_a_while(
    service: BookingService, seeded: Any
) -> None:
    """After `lookup_failures_allowed` wrong suffixes even the right one gets 429 until the
    lock-out has run from the last failure; failures further apart do not add up."""
    allowed = service.settings.lookup_failures_allowed
    minutes = timedelta(minutes=service.settings.lookup_lockout_minutes)

    def fail(at: datetime) -> None:
        with seeded() as s2, pytest.raises(WrongPhoneSuffix) as err:
            service.lookup(s2, ref, "4321", now=at)
        with seeded() as s2:
            service.count_failed_lookup(s2, err.value.booking_id, now=at)
            s2.commit()

    with seeded() as s:
        ref = service.create(s, req(), now=NOW).reference
        s.commit()
    for i in range(allowed - 1):
        fail(NOW + timedelta(minutes=i))
    fail(NOW + minutes + timedelta(minutes=allowed))  # the earlier ones have expired
    with seeded() as s:
        assert service.lookup(s, ref, "1234", now=NOW + minutes + timedelta(minutes=allowed))
    last = NOW + 2 * minutes
    for i in range(allowed - 1):
        fail(last - timedelta(minutes=allowed - 2 - i))  # the last one at `last`
    with seeded() as s:
        with pytest.raises(LookupLocked) as locked:
            service.lookup(s, ref, "1234", now=last)
        assert locked.value.status == 429 and "****" not in str(locked.value.body())
        assert service.lookup(s, ref, "1234", now=last + minutes + timedelta(seconds=1))
    with seeded() as s:  # an unknown reference has nothing to count
        with pytest.raises(NotFound) as unknown:
            service.lookup(s, "ZZZZZZZZ", "1234", now=last)
        assert not isinstance(unknown.value, WrongPhoneSuffix)


def test_resident_can_change_until_cutoff_only(service: BookingService, seeded: Any) -> None:
    """Move and cancel work before 17:00 the day before; after it the resident must call."""
    resident = Actor("resident", "web")
    with seeded() as s:
        b = stored(service, s, req(date="2026-06-03"), now=NOW)
        service.move(s, b, date(2026, 6, 4), "pm", now=NOW, actor=resident)
        assert (b.date, b.half_day) == (date(2026, 6, 4), "pm")
        late = datetime(2026, 6, 3, 17, 0, tzinfo=TZ)
        with pytest.raises(Conflict) as err:
            service.cancel(s, b, now=late, actor=resident)
        assert err.value.code == "past_cutoff"
        service.cancel(s, b, now=late, actor=STAFF)  # staff may still cancel
        slots = {
            (x.date, x.half_day): x.booked
            for x in s.scalars(select(Slot).where(Slot.zone_code == "west"))
        }
        assert slots[(date(2026, 6, 3), "am")] == 0 and slots[(date(2026, 6, 4), "pm")] == 0


def test_a_stale_copy_cannot_give_the_place_back_twice(
    service: BookingService, seeded: Any
) -> None:
    """Two requests cancelling one booking (both read it first) free its place once."""
    with seeded() as s:
        for i in range(2):  # two bookings in one half-day: booked 2
            who = {"name": "甲", "id_number": make_id(date(1940, 1, 1), i), "phone": make_phone(i)}
            ref = service.create(s, req(applicant=who), now=NOW).reference
        s.commit()
    # As on PostgreSQL (READ COMMITTED): both requests read 'pending', then both act.
    with seeded() as first, seeded() as second:
        mine = service.by_reference(first, ref)
        first.commit()
        theirs = service.by_reference(second, ref)
        second.commit()
        service.cancel(first, mine, now=NOW, actor=STAFF)
        first.commit()
        with pytest.raises(Conflict):
            service.cancel(second, theirs, now=NOW, actor=STAFF)
        second.rollback()
    with seeded() as s:
        slot = s.scalars(
            select(Slot).where(Slot.zone_code == "west", Slot.date == DAY, Slot.half_day == "am")
        ).one()
        assert slot.booked == 1


def test_full_lifecycle_is_audited(service: BookingService, seeded: Any) -> None:
    """pending → confirmed → scheduled (with window) → done, one event per change."""
    with seeded() as s:
        b = stored(service, s, req(), now=NOW)
        service.confirm(s, b, now=NOW, actor=STAFF)
        start = datetime(2026, 6, 2, 9, 0, tzinfo=TZ)
        service.schedule(
            s, b, clerk_id=1, start=start, end=start + timedelta(hours=1), now=NOW, actor=SYSTEM
        )
        view = to_dict(service, b, NOW)
        assert (
            view["status_name"] == "已排班"
            and view["window"]["start"] == "2026-06-02T09:00:00+08:00"
        )
        service.finish(s, b, Status.DONE, now=NOW + timedelta(days=1), actor=STAFF)
        events = s.scalars(select(BookingEvent).order_by(BookingEvent.id)).all()
        assert [(e.from_status, e.to_status) for e in events] == [
            (None, "pending"),
            ("pending", "confirmed"),
            ("confirmed", "scheduled"),
            ("scheduled", "done"),
        ]
        assert [e.actor_kind for e in events] == ["resident", "staff", "system", "staff"]
        with pytest.raises(Conflict):
            service.cancel(s, b, now=NOW, actor=STAFF)


def test_residents_cannot_confirm(service: BookingService, seeded: Any) -> None:
    """Confirming is a staff action."""
    with seeded() as s:
        b = stored(service, s, req(), now=NOW)
        with pytest.raises(Exception) as err:
            service.confirm(s, b, now=NOW, actor=Actor("resident", "web"))
    assert err.value.status == 403  # type: ignore[attr-defined]


def test_staff_search_by_reference_and_masked_phone(service: BookingService, seeded: Any) -> None:
    """Staff find a booking by its reference, the full phone, or the masked phone."""
    with seeded() as s:
        b = stored(service, s, req(), now=NOW)
        assert service.search(s, b.reference) == [b]
        assert service.search(s, "139 0578 1234") == [b]
        assert service.search(s, "139****1234") == [b]
        assert service.search(s, "139****9999") == []
        assert all(isinstance(x, Booking) for x in service.search(s, "hello"))


def test_capacity_follows_clerk_shifts(engine: Any, settings: Any) -> None:
    """A slot's capacity is clerks on shift × visits per clerk, and follows added shifts."""
    from scheduler import db
    from scheduler.booking import PerClerk, add_shift, ensure_zones
    from scheduler.models import Clerk
    from scheduler.settings import QINGYUAN_ZONES

    rule = PerClerk(settings.visits_per_clerk_half_day)
    _, write = db.session_factories(engine)
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        a, b = Clerk(name="甲"), Clerk(name="乙")
        s.add_all([a, b])
        s.flush()
        add_shift(s, a.id, "east", DAY, "am", rule)
        slot = s.scalars(select(Slot).where(Slot.zone_code == "east")).one()
        assert slot.capacity == 2
        add_shift(s, b.id, "east", DAY, "am", rule)
        s.refresh(slot)
        assert slot.capacity == 4


def test_misspelt_setting_is_refused() -> None:
    """A settings key the service does not know is an error, not silently ignored."""
    with pytest.raises(ValueError, match="horizon_dayz"):
        test_settings(horizon_dayz=10)


def test_location_from_the_gazetteer_geocoder(catalog: Any, settings: Any, seeded: Any) -> None:
    """With routing's offline geocoder the booking stores a WGS-84 point near its township."""
    from routing.geocode import GazetteerGeocoder

    svc = BookingService(
        catalog, settings, Protector(Keyring.from_legacy_secret(b"k" * 32)), GazetteerGeocoder()
    )
    with seeded() as s:
        b = stored(svc, s, req(), now=NOW)
    assert b.datum == "WGS-84" and b.geo_precision in {"village", "township"}
    town = catalog.townships["331126205"]  # GCJ-02 seat; WGS-84 differs by well under 1 km
    assert b.lat is not None and b.lon is not None
    assert abs(b.lat - town.lat) < 0.05 and abs(b.lon - town.lon) < 0.05


def test_purge_erases_personal_data_of_old_finished_bookings(
    service: BookingService, seeded: Any
) -> None:
    """After the retention period a cancelled booking keeps statistics but no personal data."""
    from scheduler.booking import purge_finished

    with seeded() as s:
        old = stored(service, s, req(), now=NOW)
        service.cancel(s, old, now=NOW, actor=STAFF)
        active = stored(
            service,
            s,
            req(
                applicant={
                    "name": "李四",
                    "id_number": make_id(date(1939, 1, 1)),
                    "phone": "13700001111",
                }
            ),
            now=NOW,
        )
        later = NOW + timedelta(days=181)
        assert purge_finished(s, now=later, older_than_days=180) == 1
        assert purge_finished(s, now=later, older_than_days=180) == 0
        assert (old.phone_enc, old.applicant_name_enc, old.address_detail_enc, old.id_hash) == (
            "",
            "",
            "",
            "",
        )
        assert old.booker_phone_enc is None and old.lat is None
        assert (old.item_code, old.town_code, old.age_band, old.status) == (
            "resident-pension-claim",
            "331126205",
            "80-89",
            "cancelled",
        )
        assert service.protector.decrypt(active.phone_enc, field="phone_enc") == "13700001111"
        assert (
            s.scalars(select(BookingEvent.action).where(BookingEvent.booking_id == old.id)).all()[
                -1
            ]
            == "purged"
        )
        with pytest.raises(Exception) as err:
            service.lookup(s, old.reference, "1234", now=NOW)
    assert err.value.status == 404  # type: ignore[attr-defined]


def test_a_reference_collision_is_retried_without_a_second_place(
    service: BookingService, seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a new reference is taken already, create draws another; one place is taken."""
    from scheduler import identity

    with seeded() as s:
        first = service.create(s, req(), now=NOW)
        drawn = iter([first.reference, "ZZZZ0000"])
        monkeypatch.setattr(identity, "new_reference", lambda: next(drawn))
        who = {"name": "李四", "id_number": make_id(date(1939, 1, 1)), "phone": "13700001111"}
        second = service.create(s, req(applicant=who), now=NOW)
        s.commit()
        assert second.reference == "ZZZZ0000"
        slot = s.scalars(
            select(Slot).where(Slot.zone_code == "west", Slot.date == DAY, Slot.half_day == "am")
        ).one()
        assert slot.booked == 2


def test_places_are_remembered_an_outage_fallback_only_briefly(catalog: Any) -> None:
    """A place found is looked up once. A township fallback because an online geocoder
    was unavailable is remembered only for GEOCODER_RETRY_S: the bookings of an outage
    do not all wait on the failing service, and the village point is used once it is
    back."""
    from types import SimpleNamespace

    from routing.geocode import GeocoderUnavailableError
    from scheduler.booking import GEOCODER_RETRY_S

    class Flaky:
        calls = 0
        down = True

        def geocode(self, query: Any) -> Any:
            self.calls += 1
            if self.down:
                raise GeocoderUnavailableError("network down", "地址服务暂时不可用。")
            precision = "village" if query.village else "township"
            return SimpleNamespace(point=SimpleNamespace(lat=27.6, lon=119.1), precision=precision)

    geocoder, clock = Flaky(), [1000.0]
    svc = BookingService(
        catalog,
        test_settings(),
        Protector(Keyring.from_legacy_secret(b"0123456789abcdef")),
        geocoder,
    )
    svc.places.clock = lambda: clock[0]
    fallback = svc._locate("331126205", "隆宫村")
    assert fallback[3] == "township" and fallback[2] == "GCJ-02"  # the catalog's seat
    assert geocoder.calls == 2  # village, then township
    assert svc._locate("331126205", "隆宫村") == fallback
    assert geocoder.calls == 2  # the outage is not asked again at once
    geocoder.down = False
    clock[0] += GEOCODER_RETRY_S
    assert svc._locate("331126205", "隆宫村")[3] == "village"
    calls = geocoder.calls
    clock[0] += 10 * GEOCODER_RETRY_S
    assert svc._locate("331126205", "隆宫村")[3] == "village"
    assert geocoder.calls == calls  # a place found is remembered for good
