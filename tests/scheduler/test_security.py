"""Findings of the security review, each as the behaviour that closes it: revocable staff
sessions, data keys apart from the cookie key, headers, the phone suffix out of URLs,
hidden characters, repeated JSON keys, method answers, error logging, the demo's files."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import (
    SECRET,
    first_date,
    make_app,
    make_id,
    payload,
    staff_password,
    test_keyring,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from scheduler import accounts
from scheduler.models import Booking, StaffSession, StaffUser
from scheduler.protect import Keyring

# -- helpers ---------------------------------------------------------------------------


def csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def login(client: FlaskClient, username: str) -> None:
    token = csrf(client, "/staff/login")
    data = {"username": username, "password": staff_password(username), "csrf_token": token}
    assert client.post("/staff/login", data=data).status_code == 302


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def scheduled_for_clerk1(app: Flask, client: FlaskClient) -> str:
    """A booking confirmed and scheduled for clerk 1 (staff pages); its reference."""
    r = client.post("/api/bookings", json=payload(date=first_date(app)))
    ref: str = r.get_json()["reference"]
    login(client, "window1")
    token = csrf(client, f"/staff/bookings/{ref}")
    client.post(f"/staff/bookings/{ref}/confirm", data={"csrf_token": token})
    r = client.post(
        f"/staff/bookings/{ref}/schedule",
        data={"csrf_token": token, "clerk_id": "1", "start": "09:00", "end": "10:00"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    client.post("/staff/logout", data={"csrf_token": token})
    return ref


# -- staff sessions --------------------------------------------------------------------


def test_a_saved_cookie_is_dead_after_logout(app: Flask, client: FlaskClient) -> None:
    """Logging out ends the login on the server: the cookie saved before works no more."""
    login(client, "window1")
    saved = session_cookie(client)
    assert client.get("/staff/").status_code == 200
    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})
    other = app.test_client()
    other.set_cookie("session", saved)
    r = other.get("/staff/")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_a_working_day_without_use_ends_a_login(app: Flask, client: FlaskClient) -> None:
    """A login unused for longer than a working day is over; one used recently holds."""
    login(client, "window1")
    assert client.get("/staff/").status_code == 200
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        s.execute(
            update(StaffSession).values(
                last_seen_at=datetime.utcnow() - accounts.IDLE - timedelta(minutes=1)
            )
        )
        s.commit()
    assert client.get("/staff/").status_code == 302


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_password_change_and_deactivation_end_every_login(
    app: Flask, client: FlaskClient, change: str
) -> None:
    """A new password or a deactivated account ends the account's open logins."""
    login(client, "window1")
    assert client.get("/staff/").status_code == 200
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == "window1")).one()
        now = datetime.now().astimezone()
        if change == "password":
            accounts.set_password(s, user, "a-brand-new-password", now=now)
        else:
            accounts.deactivate(s, user, now=now)
        s.commit()
    assert client.get("/staff/").status_code == 302


def test_the_cookie_holds_no_staff_id_only_a_token(app: Flask, client: FlaskClient) -> None:
    """The signed cookie names a session token, whose hash alone is stored."""
    login(client, "window1")
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data = serializer.loads(session_cookie(client))
    assert "staff_id" not in data and len(data["_user_id"]) >= 40
    with app.extensions["onetrip"].read_session() as s:
        stored = s.scalars(select(StaffSession.token_hash)).all()
    assert stored == [accounts.token_hash(data["_user_id"])]


def test_session_cookies_are_secure_by_default(
    db_url: str, catalog: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the demo the session cookie is Secure unless ONETRIP_SECURE_COOKIES=0."""
    from scheduler.web import create_app

    monkeypatch.delenv("ONETRIP_SECURE_COOKIES", raising=False)
    config = {"DATABASE_URL": db_url, "CATALOG": catalog, "GEOCODER": None, "TESTING": True}
    app = create_app({**config, "DATA_KEYS": test_keyring(), "SECRET_KEY": SECRET})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["onetrip"].dispose()
    monkeypatch.setenv("ONETRIP_SECURE_COOKIES", "0")
    app = create_app({**config, "DATA_KEYS": test_keyring(), "SECRET_KEY": SECRET})
    assert app.config["SESSION_COOKIE_SECURE"] is False
    app.extensions["onetrip"].dispose()


# -- data keys apart from the cookie key ---------------------------------------------------


def _second_app(db_url: str, catalog: Any, tmp_path: Path, **config: Any) -> Flask:
    from scheduler.web import create_app

    site = tmp_path / "site2"
    site.mkdir(exist_ok=True)
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "CATALOG": catalog,
            "GEOCODER": None,
            "SITE_DIR": str(site),
            "SESSION_COOKIE_SECURE": False,
            **config,
        }
    )


def test_a_new_cookie_key_leaves_stored_data_readable(
    app: Flask, client: FlaskClient, db_url: str, catalog: Any, tmp_path: Path
) -> None:
    """Replacing the cookie key (to kill stolen cookies) keeps every stored name, phone and
    address readable: the data keys are a secret of their own."""
    scheduled_for_clerk1(app, client)
    fresh = _second_app(
        db_url,
        catalog,
        tmp_path,
        SECRET_KEY="another-cookie-key-0123456789",
        DATA_KEYS=test_keyring(),
    )
    try:
        c = fresh.test_client()
        login(c, "clerk1")
        card = c.get("/staff/visits")
        assert card.status_code == 200
        assert "13905781234" in card.get_data(as_text=True)
    finally:
        fresh.extensions["onetrip"].dispose()


def test_a_value_no_key_opens_shows_cannot_decrypt(
    app: Flask,
    client: FlaskClient,
    db_url: str,
    catalog: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With data keys that do not open the stored values the visit card still renders,
    showing 「无法解密」, and the log names the booking by id, not the value."""
    ref = scheduled_for_clerk1(app, client)
    other = _second_app(
        db_url, catalog, tmp_path, SECRET_KEY=SECRET, DATA_KEYS=Keyring.generate("other")
    )
    try:
        c = other.test_client()
        login(c, "clerk1")
        with caplog.at_level(logging.WARNING):
            card = c.get("/staff/visits")
        html = card.get_data(as_text=True)
        assert card.status_code == 200 and "无法解密" in html and ref in html
        with app.extensions["onetrip"].read_session() as s:
            booking_id = s.scalars(select(Booking.id).where(Booking.reference == ref)).one()
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert f"booking id={booking_id}" in logged and "key id t1" in logged
        assert "13905781234" not in logged
    finally:
        other.extensions["onetrip"].dispose()


def test_reencryption_moves_values_to_the_current_key(app: Flask, client: FlaskClient) -> None:
    """After a rotation, re-encryption rewrites every value under the new key; the values
    stay the same."""
    from scheduler.booking.keys import reencrypt
    from scheduler.protect import Protector

    client.post("/api/bookings", json=payload(date=first_date(app)))
    rotated = Protector(test_keyring().rotated("t2"))
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        changed, failed = reencrypt(s, rotated)
        s.commit()
    assert (changed, failed) == (3, 0)  # name, phone, street detail
    with state.read_session() as s:
        b = s.scalars(select(Booking)).one()
        assert Protector.key_id_of(b.phone_enc) == "t2"
        assert rotated.decrypt(b.phone_enc, field="phone_enc") == "13905781234"
    with state.write_session() as s:
        assert reencrypt(s, rotated) == (0, 0)


# -- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/items", "/book/resident-pension-claim", "/booking", "/staff/login", "/", "/nope"],
)
def test_every_response_carries_security_headers(client: FlaskClient, path: str) -> None:
    """API, pages and the guide answer with a CSP that forbids framing, nosniff and a
    Referrer-Policy."""
    r = client.get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_pages_with_personal_data_are_not_stored(app: Flask, client: FlaskClient) -> None:
    """A booking's answer, the resident status page and staff pages say Cache-Control:
    no-store."""
    r = client.post("/api/bookings", json=payload(date=first_date(app)))
    assert r.headers["Cache-Control"] == "no-store"
    ref = r.get_json()["reference"]
    token = csrf(client, "/booking")
    page = client.post(
        "/booking", data={"reference": ref, "phone_last4": "1234", "csrf_token": token}
    )
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    login(client, "window1")
    assert client.get(f"/staff/bookings/{ref}").headers["Cache-Control"] == "no-store"


def test_rendered_pages_need_no_inline_script_or_style(app: Flask, client: FlaskClient) -> None:
    """The policy forbids inline script and style, and the pages have none, so they work
    under it."""
    pages = ["/book/resident-pension-claim?town_code=331126205", "/booking", "/staff/login"]
    login(client, "window1")
    pages += ["/staff/", "/staff/book"]
    for path in pages:
        r = client.get(path)
        html = r.get_data(as_text=True)
        assert r.status_code == 200, path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"\son[a-z]+=", html), path  # no event handler attributes
        assert "script-src 'self';" in r.headers["Content-Security-Policy"]
    css = client.get("/_onetrip/static/onetrip.css")
    assert css.status_code == 200 and "font" in css.get_data(as_text=True)


def test_guide_pages_allow_exactly_their_own_inline_scripts(
    db_url: str, catalog: Any, tmp_path: Path
) -> None:
    """A built guide page's policy names its inline scripts by hash, nothing else inline."""
    import base64
    import hashlib

    site = tmp_path / "site"
    site.mkdir()
    script = "var __md_scope=new URL('.',location)"
    (site / "index.html").write_text(
        f'<h1>办事指南</h1><script>{script}</script><script src="/a.js"></script>',
        encoding="utf-8",
    )
    app = make_app(db_url, catalog, site)
    try:
        csp = app.test_client().get("/").headers["Content-Security-Policy"]
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'self' 'sha256-{digest}';" in csp
        assert "'unsafe-inline'" not in csp.split(";")[1]
    finally:
        app.extensions["onetrip"].dispose()


# -- the phone suffix never in a URL -----------------------------------------------------


def test_lookup_takes_the_suffix_in_a_body(app: Flask, client: FlaskClient) -> None:
    """POST /api/bookings/<ref>/lookup answers with the booking; the old GET with the
    suffix in the query answers 400 and points to the POST."""
    ref = client.post("/api/bookings", json=payload(date=first_date(app))).get_json()["reference"]
    r = client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "1234"})
    assert r.status_code == 200 and r.get_json()["reference"] == ref
    old = client.get(f"/api/bookings/{ref}?phone_last4=1234")
    assert old.status_code == 400 and old.get_json()["error"] == "lookup_by_post"
    assert f"/api/bookings/{ref}/lookup" in old.headers["Link"]


def test_resident_lookup_page_does_not_answer_a_suffix_in_the_url(
    app: Flask, client: FlaskClient
) -> None:
    """/booking?reference=…&phone_last4=… shows the form with a hint, not the booking."""
    ref = client.post("/api/bookings", json=payload(date=first_date(app))).get_json()["reference"]
    r = client.get(f"/booking?reference={ref}&phone_last4=1234")
    assert r.status_code == 400 and ref not in r.get_data(as_text=True)
    assert "表单" in r.get_data(as_text=True)


# -- input -----------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066", "\ufeff", "\x85", "\x9b", "\x07"])
@pytest.mark.parametrize("where", ["name", "detail", "village", "relationship"])
def test_hidden_characters_are_refused(
    app: Flask, client: FlaskClient, char: str, where: str
) -> None:
    """Bidi overrides, zero-width and other format characters, C0 and C1 controls in a
    text field are refused with a clear message naming the field."""
    body = payload(date=first_date(app))
    field = {"name": "applicant.name", "detail": "address.detail", "village": "address.village"}
    if where == "name":
        body["applicant"]["name"] = "吴" + char + "秀英"
    elif where in ("detail", "village"):
        body["address"][where] = "隆宫村" + char + "12号"
    else:
        body["booker"] = {
            "name": "吴小明",
            "phone": "13812345678",
            "relationship": "儿" + char + "子",
        }
    r = client.post("/api/bookings", json=body)
    out = r.get_json()
    assert r.status_code == 422 and out["error"] == "hidden_character", out
    assert out["field"] == field.get(where, "booker.relationship")
    assert "不可见" in out["message"]


def test_repeated_json_keys_are_refused(app: Flask, client: FlaskClient) -> None:
    """A JSON object that names a key twice is refused, not read as the last value."""
    body = json.dumps(payload(date=first_date(app)), ensure_ascii=False)
    twice = body[:-1] + ', "half_day": "pm"}'
    r = client.post("/api/bookings", data=twice.encode(), content_type="application/json")
    assert r.status_code == 422 and r.get_json()["error"] == "duplicate_key"
    assert r.get_json()["field"] == "half_day"


@pytest.mark.parametrize("path", ["/api/bookings", "/api/bookings/ABCD2345/lookup"])
def test_deeply_nested_json_is_refused_not_a_500(client: FlaskClient, path: str) -> None:
    """2 KB of nested brackets exceed Python's recursion limit while the body is checked
    for repeated keys: a 422 with a message, not an internal error."""
    r = client.post(path, data=b"[" * 1500 + b"]" * 1500, content_type="application/json")
    assert r.status_code == 422 and r.get_json()["error"] == "too_deeply_nested"
    assert "嵌套" in r.get_json()["message"]


def test_a_window_outside_the_booked_half_day_is_refused(app: Flask, client: FlaskClient) -> None:
    """Staff cannot schedule a morning booking for 23:00, nor with a clerk not on shift
    in the booking's zone and half-day."""
    ref = client.post("/api/bookings", json=payload(date=first_date(app))).get_json()["reference"]
    login(client, "window1")
    token = csrf(client, f"/staff/bookings/{ref}")
    client.post(f"/staff/bookings/{ref}/confirm", data={"csrf_token": token})
    late = client.post(
        f"/staff/bookings/{ref}/schedule",
        data={"csrf_token": token, "clerk_id": "1", "start": "23:00", "end": "23:30"},
    )
    assert late.status_code == 422 and "上午" in late.get_data(as_text=True)
    elsewhere = client.post(
        f"/staff/bookings/{ref}/schedule",
        data={"csrf_token": token, "clerk_id": "2", "start": "09:00", "end": "10:00"},
    )
    assert elsewhere.status_code == 422 and "当班" in elsewhere.get_data(as_text=True)
    with app.extensions["onetrip"].read_session() as s:
        assert s.scalars(select(Booking.status)).one() == "confirmed"


# -- routes and errors -----------------------------------------------------------------


def test_api_paths_advertise_their_own_methods(client: FlaskClient) -> None:
    """A wrong method on an API path is 405 naming the API's methods only; GET
    /api/bookings is 405 (it exists for POST), not 404."""
    r = client.put("/api/bookings/ABCD2345/cancel")
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) <= {"POST", "OPTIONS"}
    r = client.get("/api/bookings")
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"
    assert client.get("/api/no-such-thing").get_json()["error"] == "not_found"


def test_a_405_on_a_page_names_the_allowed_methods(client: FlaskClient) -> None:
    """Every 405 carries Allow (RFC 9110), on pages as on the API: logging out is a POST."""
    r = client.get("/staff/logout")
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"] and "GET" not in r.headers["Allow"]


def test_a_500_is_logged_with_its_traceback_scrubbed(
    app: Flask,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected error answers 500 and logs its traceback, with the values in the
    exception's message replaced."""
    phone, name, street = "13905781234", "吴秀英", "隆宫村12号"
    message = "could not place '%s' for %s at %s" % (phone, name, street)  # noqa: UP031

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError(message)

    monkeypatch.setattr(app.extensions["onetrip"].service.places, "locate", broken)
    with caplog.at_level(logging.ERROR):
        r = client.post("/api/bookings", json=payload(date=first_date(app)))
    assert r.status_code == 500 and r.get_json()["error"] == "internal_error"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Traceback" in logged and "in broken" in logged and "RuntimeError" in logged
    assert phone not in logged and "吴秀英" not in logged and "隆宫村" not in logged


def test_a_missing_table_is_a_500_that_says_so(
    catalog: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a database without the tables (migrations not run) SQLite reports an
    OperationalError as it does for a locked database; the answer is a 500 whose log
    line says to migrate, not a 503 that invites retrying."""
    empty = _second_app(
        f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        catalog,
        tmp_path,
        SECRET_KEY=SECRET,
        DATA_KEYS=test_keyring(),
    )
    try:
        with caplog.at_level(logging.ERROR):
            r = empty.test_client().get("/api/townships")
        assert r.status_code == 500 and "Retry-After" not in r.headers
        assert "onetrip migrate" in "\n".join(x.getMessage() for x in caplog.records)
    finally:
        empty.extensions["onetrip"].dispose()


def test_an_undecryptable_purged_or_empty_value_is_empty(app: Flask) -> None:
    """`reveal` of an empty column (purged, or no booker) is empty, not an error."""
    from scheduler.web.present import reveal

    b = Booking(id=1, booker_phone_enc=None, phone_enc="")
    p = app.extensions["onetrip"].protector
    assert reveal(p, b, "booker_phone_enc") == "" and reveal(p, b, "phone_enc") == ""


def test_old_idempotency_records_are_purged(app: Flask, client: FlaskClient) -> None:
    """Stored answers to Idempotency-Key requests go after a day; younger ones stay."""
    from scheduler.booking import purge_idempotency
    from scheduler.models import IdempotencyRecord

    body = payload(date=first_date(app))
    assert (
        client.post("/api/bookings", json=body, headers={"Idempotency-Key": "k-1"}).status_code
        == 201
    )
    state = app.extensions["onetrip"]
    now = datetime.now().astimezone()
    with state.write_session() as s:
        assert purge_idempotency(s, now=now) == 0
        assert purge_idempotency(s, now=now + timedelta(hours=25)) == 1
        s.commit()
    with state.read_session() as s:
        assert s.scalars(select(IdempotencyRecord)).all() == []


def test_age_is_kept_as_a_band_only(app: Flask, client: FlaskClient) -> None:
    """A booking stores the age band and the region-only mask of the ID number."""
    client.post("/api/bookings", json=payload(date=first_date(app)))
    with app.extensions["onetrip"].read_session() as s:
        b = s.scalars(select(Booking)).one()
    assert b.age_band == "80-89" and b.id_masked == make_id(date(1940, 3, 5))[:4] + "*" * 14
