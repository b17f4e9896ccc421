"""Server-rendered pages: booking without JavaScript, look-up, and the staff pages."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from booking_support import first_date, make_app, make_id, staff_password
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.models import Booking, BookingEvent


def csrf(client: FlaskClient, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, url
    return match.group(1)


def form_fields(app: Flask, **over: str) -> dict[str, str]:
    fields = {
        "applicant_name": "吴秀英",
        "applicant_id_number": make_id(date(1940, 3, 5)),
        "applicant_phone": "13905781234",
        "booker_kind": "self",
        "town_code": "331126205",
        "village": "隆宫村",
        "address_detail": "隆宫村12号",
        "reason": "age",
        "date": first_date(app),
        "half_day": "am",
        "submission": "form-submission-1",
    }
    fields.update(over)
    return fields


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str = "window1") -> None:
        token = csrf(self.client, "/staff/login")
        r = self.client.post(
            "/staff/login",
            data={"username": username, "password": staff_password(username), "csrf_token": token},
        )
        assert r.status_code == 302, r.get_data(as_text=True)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def book_by_form(client: FlaskClient, app: Flask, **over: str) -> str:
    token = csrf(client, "/book/resident-pension-claim")
    r = client.post(
        "/book/resident-pension-claim", data={**form_fields(app, **over), "csrf_token": token}
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    match = re.search(r"data-reference>([0-9A-Z]{8})<", r.get_data(as_text=True))
    assert match
    return match.group(1)


def test_form_books_without_javascript(client: FlaskClient, app: Flask) -> None:
    """The /book/<item> page posts a plain form and shows the reference and next steps."""
    page = client.get("/book/resident-pension-claim").get_data(as_text=True)
    assert "城乡居民基本养老保险待遇申领" in page and "隆宫乡" in page
    ref = book_by_form(client, app)
    assert len(ref) == 8


def test_form_resubmission_creates_one_booking(client: FlaskClient, app: Flask) -> None:
    """Submitting the same form twice (double click, back button) keeps one booking."""
    book_by_form(client, app)
    token = csrf(client, "/book/resident-pension-claim")
    r = client.post("/book/resident-pension-claim", data={**form_fields(app), "csrf_token": token})
    assert r.status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        assert len(s.scalars(select(Booking)).all()) == 1


def test_overlong_form_key_is_refused_not_a_server_error(client: FlaskClient, app: Flask) -> None:
    """A form key that would not fit its column with the "form:" prefix is a 422, not a 500."""
    token = csrf(client, "/book/resident-pension-claim")
    data = {**form_fields(app, submission="k" * 100), "csrf_token": token}
    r = client.post("/book/resident-pension-claim", data=data)
    assert r.status_code == 422
    assert len(book_by_form(client, app, submission="k" * 95)) == 8


def test_digit_like_characters_are_form_errors_not_server_errors(
    client: FlaskClient, app: Flask, auth: AuthActions
) -> None:
    """A "²" (isdigit() but not int()) in a form or query is a 422 or ignored, never a 500."""
    token = csrf(client, "/book/resident-pension-claim")
    data = {**form_fields(app, reason="disability", disability_grade="²"), "csrf_token": token}
    r = client.post("/book/resident-pension-claim", data=data)
    assert r.status_code == 422 and "残疾等级" in r.get_data(as_text=True)
    auth.login("admin1")
    assert client.get("/staff/visits?clerk=²").status_code == 200


def test_form_without_csrf_token_is_refused(client: FlaskClient, app: Flask) -> None:
    """A POST without the session's CSRF token is rejected and creates nothing."""
    client.get("/book/resident-pension-claim")
    r = client.post("/book/resident-pension-claim", data=form_fields(app))
    assert r.status_code == 400
    with app.extensions["onetrip"].read_session() as s:
        assert s.scalars(select(Booking)).all() == []


def test_form_errors_are_shown_next_to_fields(client: FlaskClient, app: Flask) -> None:
    """A wrong ID check character re-renders the form with a Chinese message, keeping input."""
    token = csrf(client, "/book/resident-pension-claim")
    r = client.post(
        "/book/resident-pension-claim",
        data={**form_fields(app, applicant_id_number="110105194912310021"), "csrf_token": token},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "校验位不正确" in html and 'value="隆宫村12号"' in html


def test_lookup_and_cancel_pages(client: FlaskClient, app: Flask) -> None:
    """A resident finds the booking with reference + last 4 digits and cancels it."""
    ref = book_by_form(client, app)
    token = csrf(client, "/booking")
    r = client.post("/booking", data={"reference": ref, "phone_last4": "1234", "csrf_token": token})
    assert r.status_code == 200 and "待确认" in r.get_data(as_text=True)
    r = client.post("/booking", data={"reference": ref, "phone_last4": "9999", "csrf_token": token})
    assert r.status_code == 404
    r = client.post(f"/booking/{ref}/cancel", data={"phone_last4": "1234", "csrf_token": token})
    assert "确认取消" in r.get_data(as_text=True)  # a confirmation step first
    with app.extensions["onetrip"].read_session() as s:
        assert s.scalars(select(Booking.status).where(Booking.reference == ref)).one() == "pending"
    data = {"phone_last4": "1234", "csrf_token": token, "confirm": "yes"}
    html = client.post(f"/booking/{ref}/cancel", data=data).get_data(as_text=True)
    assert "已取消" in html and 'href="/book/resident-pension-claim"' in html


def test_lookup_page_locks_after_too_many_wrong_suffixes(client: FlaskClient, app: Flask) -> None:
    """Wrong suffixes on the look-up and cancel forms count against the reference; past the
    allowed number the page says so (429) and the booking stays as it was."""
    ref = book_by_form(client, app)
    token = csrf(client, "/booking")
    allowed = app.extensions["onetrip"].settings.lookup_failures_allowed
    for i in range(allowed):
        path = "/booking" if i % 2 else f"/booking/{ref}/cancel"
        data = {"reference": ref, "phone_last4": f"{i:04d}", "csrf_token": token}
        assert client.post(path, data=data).status_code == 404
    r = client.post(f"/booking/{ref}/cancel", data={"phone_last4": "1234", "csrf_token": token})
    assert r.status_code == 429 and "输错多次" in r.get_data(as_text=True)
    r = client.post("/booking", data={"reference": ref, "phone_last4": "1234", "csrf_token": token})
    assert r.status_code == 429 and "已取消" not in r.get_data(as_text=True)


def test_nul_characters_in_login_and_search_are_no_server_error(
    client: FlaskClient, auth: AuthActions
) -> None:
    """A NUL (which PostgreSQL text cannot hold) is a failed login or an empty search, not 500."""
    token = csrf(client, "/staff/login")
    r = client.post(
        "/staff/login", data={"username": "win\x00dow1", "password": "x", "csrf_token": token}
    )
    assert r.status_code == 401
    auth.login("window1")
    assert client.get("/staff/?q=139****12%003").status_code == 200


@pytest.mark.parametrize(
    "path", ["/staff/", "/staff/book", "/staff/visits", "/staff/bookings/ABCDEFGH"]
)
def test_staff_pages_need_login(client: FlaskClient, path: str) -> None:
    """Every staff page redirects to the login page when nobody is logged in."""
    r = client.get(path)
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_wrong_password_is_refused(client: FlaskClient) -> None:
    """A wrong password does not log in."""
    token = csrf(client, "/staff/login")
    r = client.post(
        "/staff/login", data={"username": "window1", "password": "nope", "csrf_token": token}
    )
    assert r.status_code == 401 and "不正确" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("user", "path", "status"), [("clerk1", "/staff/book", 403), ("window1", "/staff/visits", 403)]
)
def test_roles(client: FlaskClient, auth: AuthActions, user: str, path: str, status: int) -> None:
    """Clerks cannot book or manage; window staff cannot open visit cards."""
    auth.login(user)
    assert client.get(path).status_code == status


def test_phone_booking_confirm_schedule_and_visit_card(
    client: FlaskClient, app: Flask, auth: AuthActions
) -> None:
    """Window staff book by phone, confirm and schedule; only the clerk's card shows the phone."""
    auth.login("window1")
    token = csrf(client, "/staff/book")
    fields = form_fields(
        app,
        booker_kind="worker",
        booker_name="李村干",
        booker_phone="13700001111",
        booker_relationship="村干部",
    )
    r = client.post(
        "/staff/book",
        data={**fields, "item": "resident-pension-claim", "channel": "phone", "csrf_token": token},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    ref = r.headers["Location"].split("/")[-1].split("?")[0]
    detail = client.get(f"/staff/bookings/{ref}").get_data(as_text=True)
    assert "139****1234" in detail and "13905781234" not in detail
    assert client.get("/staff/?q=139****1234").get_data(as_text=True).count(ref) >= 1
    client.post(f"/staff/bookings/{ref}/confirm", data={"csrf_token": token})
    r = client.post(
        f"/staff/bookings/{ref}/schedule",
        data={"csrf_token": token, "clerk_id": "1", "start": "09:00", "end": "10:00"},
    )
    assert r.status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        b = s.scalars(select(Booking).where(Booking.reference == ref)).one()
        assert (b.status, b.channel) == ("scheduled", "phone")
        events = s.scalars(select(BookingEvent).where(BookingEvent.booking_id == b.id)).all()
        assert [e.actor_kind for e in events] == ["staff"] * 3 and all(
            e.actor_staff_id for e in events
        )
    client.post("/staff/logout", data={"csrf_token": token})
    auth.login("clerk1")
    card = client.get("/staff/visits").get_data(as_text=True)
    assert "13905781234" in card and "隆宫村12号" in card and "吴秀英" in card
    token = csrf(client, "/staff/visits")
    assert client.post(f"/staff/bookings/{ref}/done", data={"csrf_token": token}).status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        assert s.scalars(select(Booking.status).where(Booking.reference == ref)).one() == "done"


def test_admin_sees_another_clerks_cards_masked(
    client: FlaskClient, app: Flask, auth: AuthActions
) -> None:
    """Full name, phone and street are for the assigned clerk's card only, not an admin's view."""
    ref = book_by_form(client, app)
    auth.login("window1")
    token = csrf(client, f"/staff/bookings/{ref}")
    client.post(f"/staff/bookings/{ref}/confirm", data={"csrf_token": token})
    r = client.post(
        f"/staff/bookings/{ref}/schedule",
        data={"csrf_token": token, "clerk_id": "1", "start": "09:00", "end": "10:00"},
    )
    assert r.status_code == 302
    client.post("/staff/logout", data={"csrf_token": token})
    auth.login("admin1")
    page = client.get("/staff/visits?clerk=1").get_data(as_text=True)
    assert ref in page and "139****1234" in page and "吴**" in page
    for secret in ("13905781234", "吴秀英", "隆宫村12号"):
        assert secret not in page


def test_staff_move_and_cancel_are_audited(
    client: FlaskClient, app: Flask, auth: AuthActions
) -> None:
    """Staff move a booking to the afternoon, then cancel it; both changes name the staff member."""
    ref = book_by_form(client, app)
    auth.login("window1")
    token = csrf(client, f"/staff/bookings/{ref}")
    r = client.post(
        f"/staff/bookings/{ref}/move", data={"csrf_token": token, "slot": f"{first_date(app)}|pm"}
    )
    assert r.status_code == 302
    r = client.post(f"/staff/bookings/{ref}/move", data={"csrf_token": token, "slot": "nonsense"})
    assert r.status_code == 422 and "请选择新的时段" in r.get_data(as_text=True)
    assert (
        client.post(f"/staff/bookings/{ref}/cancel", data={"csrf_token": token}).status_code == 200
    )  # the confirmation page
    assert (
        client.post(
            f"/staff/bookings/{ref}/cancel", data={"csrf_token": token, "confirm": "yes"}
        ).status_code
        == 302
    )
    with app.extensions["onetrip"].read_session() as s:
        b = s.scalars(select(Booking).where(Booking.reference == ref)).one()
        events = s.scalars(
            select(BookingEvent).where(BookingEvent.booking_id == b.id).order_by(BookingEvent.id)
        ).all()
    assert [(e.action, e.actor_kind, e.channel) for e in events] == [
        ("created", "resident", "web"),
        ("moved", "staff", "window"),
        ("cancelled", "staff", "window"),
    ]
    assert b.half_day == "pm" and b.status == "cancelled"


def test_form_lists_open_half_days_for_a_township(client: FlaskClient, app: Flask) -> None:
    """Without JavaScript, choosing a township first lists its open half-days to pick from."""
    html = client.get("/book/resident-pension-claim?town_code=331126205").get_data(as_text=True)
    value = f"{first_date(app)}|am"
    assert f'value="{value}"' in html and "剩余2个名额" in html
    fields = form_fields(app, slot=value)
    del fields["date"], fields["half_day"]
    token = csrf(client, "/book/resident-pension-claim")
    r = client.post("/book/resident-pension-claim", data={**fields, "csrf_token": token})
    assert r.status_code == 200 and "data-reference>" in r.get_data(as_text=True)
    html = client.get("/book/resident-pension-claim?town_code=331126205").get_data(as_text=True)
    assert "剩余1个名额" in html


def test_site_dir_may_be_relative(
    db_url: str, catalog: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative SITE_DIR is read from the working directory; directories serve index.html."""
    site = tmp_path / "built" / "items" / "x"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<p>事项页</p>", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = make_app(db_url, catalog, Path("built"))
    client = app.test_client()
    assert "事项页" in client.get("/items/x/").get_data(as_text=True)
    assert client.get("/items/x").status_code == 302
    assert client.get("/items/nothing/").status_code == 404
    app.extensions["onetrip"].dispose()
