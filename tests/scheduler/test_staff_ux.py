"""Issue 13 on the server side: the audited phone reveal, the staff work list and search,
Chinese labels of the record log, one date format, the favicon and the API's entry."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from booking_support import NOW, make_id, payload
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_pages import AuthActions, book_by_form, csrf

from scheduler.booking import Actor, BookingService, lookup
from scheduler.errors import Forbidden
from scheduler.models import Booking, BookingEvent, Status
from scheduler.schemas import BookingRequest
from scheduler.web.present import detail_text, next_steps

WINDOW = Actor("staff", "window", staff_id=None, role="window")
PHONE = "13905781234"


def _book(service: BookingService, s: Any, days: int = 1, seq: int = 123, **over: Any) -> Booking:
    """A stored booking `days` after NOW for applicant number `seq`."""
    applicant = {"name": "吴秀英", "id_number": make_id(date(1940, 3, 5), seq), "phone": PHONE}
    body = payload(date=(NOW.date() + timedelta(days=days)).isoformat(), applicant=applicant)
    body.update(over)
    request = BookingRequest.model_validate(body, strict=False)
    return service.by_reference(s, service.create(s, request, now=NOW, actor=WINDOW).reference)


def test_reveal_phone_returns_the_number_and_records_who_whose_when(
    service: BookingService, seeded: Any
) -> None:
    """A window clerk gets the full phone; a phone_revealed event names the staff member,
    the booking and the person, at `now`."""
    actor = Actor("staff", "window", staff_id=None, role="window")
    with seeded() as s:
        b = _book(service, s)
        phone = service.reveal_phone(s, b, whose="applicant", actor=actor, now=NOW)
        assert phone == "13905781234"
        ev = s.scalars(select(BookingEvent).where(BookingEvent.action == "phone_revealed")).one()
        assert (ev.booking_id, ev.detail, ev.from_status, ev.to_status) == (
            b.id,
            "applicant",
            "pending",
            "pending",
        )
        assert ev.at == NOW.replace(tzinfo=None) and ev.actor_kind == "staff"


@pytest.mark.parametrize(
    "actor",
    [Actor("resident", "web"), Actor("staff", "visit", role="clerk")],
    ids=["resident", "clerk"],
)
def test_reveal_phone_is_refused_to_roles_that_do_not_call(
    service: BookingService, seeded: Any, actor: Actor
) -> None:
    """Residents and visiting clerks cannot reveal a phone here, and nothing is recorded."""
    with seeded() as s:
        b = _book(service, s)
        with pytest.raises(Forbidden):
            service.reveal_phone(s, b, whose="applicant", actor=actor, now=NOW)
        assert (
            s.scalars(select(BookingEvent).where(BookingEvent.action == "phone_revealed")).all()
            == []
        )


def test_work_list_holds_every_open_booking_today_first(
    service: BookingService, seeded: Any
) -> None:
    """The default list has pending and confirmed bookings, earliest day first; a status or
    a day narrows it."""
    with seeded() as s:
        later = _book(service, s, days=4, seq=201)
        soon = _book(service, s, days=1, seq=202)
        service.confirm(s, soon, now=NOW, actor=WINDOW)
        assert [b.id for b in service.work_list(s, NOW)] == [soon.id, later.id]
        assert [b.id for b in service.work_list(s, NOW, status=Status.CONFIRMED)] == [soon.id]
        assert [b.id for b in service.work_list(s, NOW, day=later.date)] == [later.id]
        assert lookup.pending(s, NOW) == [later]


def test_search_finds_the_last_four_digits(service: BookingService, seeded: Any) -> None:
    """Four digits find the bookings whose applicant's mobile ends with them."""
    with seeded() as s:
        b = _book(service, s)
        assert service.search(s, "1234") == [b]
        assert service.search(s, "9999") == []


def test_record_details_are_written_in_chinese() -> None:
    """Stored details (a slot, a move, an erasure, whose phone) read as Chinese, dates in
    the one format."""
    assert detail_text("created", "2026-12-04 pm") == "12月4日 星期五 下午"
    assert (
        detail_text("moved", "2026-12-04 pm -> 2026-12-07 am")
        == "12月4日 星期五 下午 → 12月7日 星期一 上午"
    )
    assert detail_text("purged", "personal data erased after 90 days").startswith("保存期满")
    assert detail_text("phone_revealed", "booker") == "代约人电话"


def test_next_steps_write_the_cut_off_in_the_one_date_format(
    service: BookingService, seeded: Any
) -> None:
    """The pending booking's next steps name the cut-off as 6月1日 星期一 17:00."""
    with seeded() as s:
        b = _book(service, s, days=2)
        cutoff = service.cutoff_for(b.date)
        text = next_steps(service, b)
        assert f"{cutoff.month}月{cutoff.day}日 星期" in text and "月0" not in text


def test_clerk_cannot_reveal_a_phone_through_the_page(client: FlaskClient, app: Flask) -> None:
    """A visiting clerk's POST to reveal-phone is refused (403) and not recorded."""
    ref = book_by_form(client, app)
    AuthActions(client).login("clerk1")
    token = csrf(client, "/staff/visits")
    r = client.post(f"/staff/bookings/{ref}/reveal-phone", data={"csrf_token": token})
    assert r.status_code == 403
    with app.extensions["onetrip"].read_session() as s:
        actions = s.scalars(select(BookingEvent.action)).all()
    assert "phone_revealed" not in actions


def test_api_root_points_to_the_openapi_document(client: FlaskClient) -> None:
    """GET /api/ answers JSON naming /api/openapi.json; every operation has a summary."""
    r = client.get("/api/")
    assert r.status_code == 200 and r.get_json()["openapi"] == "/api/openapi.json"
    doc = client.get("/api/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path}"


def test_favicon_is_served(client: FlaskClient) -> None:
    """/favicon.ico answers with the app's SVG icon, and pages link it."""
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert 'rel="icon"' in client.get("/booking").get_data(as_text=True)
