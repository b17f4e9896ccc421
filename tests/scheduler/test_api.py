"""The JSON API: shapes, status codes, error bodies, idempotency, look-up, cancel, move."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import SECRET, first_date, make_app, make_id, make_phone, payload
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.models import Booking


def book(
    client: FlaskClient, app: Flask, headers: dict[str, str] | None = None, **over: Any
) -> Any:
    body = payload(date=first_date(app), **over)
    return client.post("/api/bookings", json=body, headers=headers or {})


def test_items_lists_home_visit_flag(client: FlaskClient) -> None:
    """GET /api/items lists every item with code, name and whether home visits are possible."""
    items = {i["code"]: i for i in client.get("/api/items").get_json()}
    assert items["resident-pension-claim"]["home_visit"] is True
    assert items["resident-pension-claim"]["skill_name"] == "社保业务"
    assert items["business-licence"]["home_visit"] is False


def test_townships_are_the_19_of_the_county(client: FlaskClient) -> None:
    """GET /api/townships gives the 19 township-level units with their zone."""
    towns = client.get("/api/townships").get_json()
    assert len(towns) == 19
    assert {"code": "331126205", "name": "隆宫乡", "zone": "west"} in towns


def test_slots_over_the_horizon(client: FlaskClient, app: Flask) -> None:
    """GET /api/slots lists half-days from the first bookable date with remaining places."""
    slots = client.get("/api/slots?item=resident-pension-claim&town_code=331126205").get_json()
    assert slots[0]["date"] == first_date(app)
    assert {s["half_day"] for s in slots} == {"am", "pm"}
    assert all(s["remaining"] == 2 for s in slots)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("item=resident-pension-claim&town_code=999", "town_code"),
        ("item=nope&town_code=331126205", "item"),
        ("item=resident-pension-claim&town_code=330521001", "town_code"),
        ("town_code=331126205", "item"),
        ("item=resident-pension-claim&town_code=331126205&x=1", "x"),
    ],
)
def test_slots_bad_queries(client: FlaskClient, query: str, field: str) -> None:
    """Bad slot queries are 422 with the field named."""
    r = client.get(f"/api/slots?{query}")
    assert r.status_code == 422 and r.get_json()["field"] == field


def test_create_returns_reference_and_next_steps(client: FlaskClient, app: Flask) -> None:
    """A valid POST is 201 with an 8-character reference, status pending and next steps."""
    r = book(client, app)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert len(body["reference"]) == 8 and body["status"] == "pending"
    assert body["status_name"] == "待确认" and "致电" in body["next_steps"]
    assert body["phone"] == "139****1234" and body["applicant_name"] == "吴**"
    assert r.headers["Location"] == f"/api/bookings/{body['reference']}"


@pytest.mark.parametrize(
    ("over", "field", "code"),
    [
        (
            {
                "applicant": {
                    "name": "吴",
                    "id_number": "110105194912310021",
                    "phone": "13905781234",
                }
            },
            "applicant.id_number",
            "id_checksum",
        ),
        (
            {
                "applicant": {
                    "name": "吴",
                    "id_number": "110105194902300028",
                    "phone": "13905781234",
                }
            },
            "applicant.id_number",
            "id_birth_date",
        ),
        (
            {
                "applicant": {
                    "name": "吴",
                    "id_number": make_id(date(1940, 1, 1)),
                    "phone": "+85291234567",
                }
            },
            "applicant.phone",
            "phone_format",
        ),
        ({"item": "no-such"}, "item", "unknown_item"),
        (
            {"address": {"town_code": "331126998", "detail": "x"}},
            "address.town_code",
            "unknown_township",
        ),
        (
            {"address": {"town_code": "33112620", "detail": "x"}},
            "address.town_code",
            "invalid_field",
        ),
        ({"reason": "rich"}, "reason", "invalid_field"),
        ({"half_day": "night"}, "half_day", "invalid_field"),
        ({"surprise": 1}, "surprise", "unknown_field"),
        ({"disability_grade": "1", "reason": "disability"}, "disability_grade", "invalid_field"),
    ],
)
def test_bad_bodies_are_422_with_field(
    client: FlaskClient, app: Flask, over: dict[str, Any], field: str, code: str
) -> None:
    """Each bad field gives 422 {"error", "message" (Chinese), "field"}."""
    r = book(client, app, **over)
    assert r.status_code == 422
    body = r.get_json()
    assert (body["field"], body["error"]) == (field, code)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


@pytest.mark.parametrize(
    ("days", "code"), [(0, "date_in_past"), (-3, "date_in_past"), (40, "date_beyond_horizon")]
)
def test_dates_outside_the_window(client: FlaskClient, days: int, code: str) -> None:
    """Today, past dates and dates beyond the horizon are refused."""
    day = (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
    r = client.post("/api/bookings", json=payload(date=day))
    assert r.status_code == 422 and r.get_json()["error"] == code


def test_unknown_query_parameters_on_posts_are_422(client: FlaskClient, app: Flask) -> None:
    """POSTs refuse unknown query parameters like every GET does, and book nothing."""
    r = client.post("/api/bookings?dry_run=1", json=payload(date=first_date(app)))
    assert r.status_code == 422 and (r.get_json()["field"], r.get_json()["error"]) == (
        "dry_run",
        "unknown_field",
    )
    ref = book(client, app).get_json()["reference"]
    for action in ("cancel", "move"):
        r = client.post(
            f"/api/bookings/{ref}/{action}?force=1",
            json={"phone_last4": "1234"}
            | ({"date": first_date(app), "half_day": "pm"} if action == "move" else {}),
        )
        assert r.status_code == 422 and r.get_json()["field"] == "force"


def test_malformed_and_wrong_type_bodies(client: FlaskClient) -> None:
    """Malformed JSON and non-object JSON are 422; wrong content type 415; oversized 413."""
    r = client.post("/api/bookings", data="{not json", content_type="application/json")
    assert r.status_code == 422 and r.get_json()["error"] == "malformed_json"
    r = client.post("/api/bookings", data="[1, 2]", content_type="application/json")
    assert r.status_code == 422 and r.get_json()["error"] == "malformed_json"
    r = client.post(
        "/api/bookings", data="item=x", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415 and r.get_json()["error"] == "unsupported_media_type"
    r = client.post(
        "/api/bookings", data='{"item": "' + "x" * 20_000 + '"}', content_type="application/json"
    )
    assert r.status_code == 413 and r.get_json()["error"] == "body_too_large"
    r = client.post("/api/bookings", data="x" * 400_000, content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"] == "body_too_large"


def test_chunked_bodies_are_read_and_bounded_too(client: FlaskClient, app: Flask) -> None:
    """A body without Content-Length (chunked; the server marks its input terminated) is
    read to its end, and refused with 413 when too large, like one with a length."""
    chunked = {"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    body = json.dumps(payload(date=first_date(app))).encode()
    r = client.post(
        "/api/bookings",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides=chunked,
    )
    assert r.status_code == 201, r.get_json()
    r = client.post(
        "/api/bookings",
        input_stream=io.BytesIO(b'{"item": "' + b"x" * 20_000 + b'"}'),
        content_type="application/json",
        environ_overrides=chunked,
    )
    assert r.status_code == 413 and r.get_json()["error"] == "body_too_large"


def test_http_errors_under_api_are_json(client: FlaskClient) -> None:
    """404 and 405 under /api answer JSON, not HTML."""
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    r = client.delete("/api/items")
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"


def test_full_slot_is_409_with_alternatives(client: FlaskClient, app: Flask) -> None:
    """Once both places of a half-day are taken, the next request is 409 with later dates."""
    for i in range(2):
        who = {"name": "甲", "id_number": make_id(date(1940, 1, 1), i), "phone": make_phone(i)}
        assert book(client, app, applicant=who).status_code == 201
    who = {"name": "乙", "id_number": make_id(date(1940, 1, 1), 7), "phone": make_phone(7)}
    r = book(client, app, applicant=who)
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "slot_full" and body["alternatives"][0]["half_day"] == "pm"


def test_idempotency_key_replays_the_same_answer(client: FlaskClient, app: Flask) -> None:
    """The same key and body twice gives one booking and the same response."""
    h = {"Idempotency-Key": "abc-123"}
    first, second = book(client, app, headers=h), book(client, app, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"


def test_idempotency_key_with_other_body_is_refused(client: FlaskClient, app: Flask) -> None:
    """Reusing a key for a different request is 422, and creates nothing."""
    h = {"Idempotency-Key": "same-key"}
    assert book(client, app, headers=h).status_code == 201
    r = book(client, app, headers=h, half_day="pm")
    assert r.status_code == 422 and r.get_json()["error"] == "idempotency_key_reused"


def test_lookup_cancel_and_move(client: FlaskClient, app: Flask) -> None:
    """With reference and last 4 digits a resident sees, moves and cancels the booking."""
    ref = book(client, app).get_json()["reference"]
    r = client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "1234"})
    assert r.status_code == 200 and r.get_json()["can_change"] is True
    r = client.post(
        f"/api/bookings/{ref}/move",
        json={"phone_last4": "1234", "date": first_date(app), "half_day": "pm"},
    )
    assert r.status_code == 200 and r.get_json()["half_day"] == "pm"
    r = client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": "1234"})
    assert r.status_code == 200 and r.get_json()["status_name"] == "已取消"
    r = client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": "1234"})
    assert r.status_code == 409


def test_wrong_suffix_looks_like_unknown_reference(client: FlaskClient, app: Flask) -> None:
    """A wrong phone suffix and an unknown reference get byte-identical 404 answers."""
    ref = book(client, app).get_json()["reference"]
    wrong = client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "0000"})
    unknown = client.post("/api/bookings/ZZZZZZZZ/lookup", json={"phone_last4": "1234"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.data == unknown.data
    wrong = client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": "0000"})
    assert wrong.status_code == 404


def test_wrong_suffixes_lock_a_reference_whatever_the_address(
    db_url: str, catalog: Any, tmp_path: Any
) -> None:
    """Wrong phone suffixes are counted per reference, through look-up and cancel alike;
    after the allowed number the right one is refused too (429), and nothing changes."""
    app = make_app(db_url, catalog, tmp_path, lookup_failures_allowed=3)
    client = app.test_client()
    ref = book(client, app).get_json()["reference"]
    assert (
        client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "0000"}).status_code == 404
    )
    assert (
        client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": "0001"}).status_code == 404
    )
    assert (
        client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "0002"}).status_code == 404
    )
    r = client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": "1234"})
    assert r.status_code == 429 and r.get_json()["error"] == "lookup_locked"
    assert "****" not in r.get_data(as_text=True)  # not even the masked phone
    assert (
        client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "1234"}).status_code == 429
    )
    with app.extensions["onetrip"].read_session() as s:
        booking = s.scalars(select(Booking).where(Booking.reference == ref)).one()
        assert (booking.status, booking.lookup_failures) == ("pending", 3)
    app.extensions["onetrip"].dispose()


def test_lookup_is_rate_limited(db_url: str, catalog: Any, tmp_path: Any) -> None:
    """More than the configured look-ups per minute from one address get 429."""
    app = make_app(db_url, catalog, tmp_path, lookup_rate=[3, 60])
    client = app.test_client()
    codes = [
        client.post("/api/bookings/ZZZZZZZZ/lookup", json={"phone_last4": "1234"}).status_code
        for _ in range(5)
    ]
    assert codes == [404, 404, 404, 429, 429]
    assert (
        client.post("/api/bookings/ZZZZZZZZ/lookup", json={"phone_last4": "1234"}).get_json()[
            "error"
        ]
        == "rate_limited"
    )
    app.extensions["onetrip"].dispose()


def test_bookings_are_rate_limited_failed_ones_included(
    db_url: str, catalog: Any, tmp_path: Any
) -> None:
    """More than the configured bookings per minute from one address get 429; a booking
    refused after its count was taken (a duplicate: its transaction rolls back), one
    refused before (malformed) and one under an Idempotency-Key count as much as one made."""
    app = make_app(db_url, catalog, tmp_path, write_rate=[4, 60])
    client = app.test_client()
    day = first_date(app)
    assert client.post("/api/bookings", json=payload(date=day)).status_code == 201
    assert client.post("/api/bookings", json=payload(date=day)).status_code == 409
    bad = client.post("/api/bookings", data=b"{", content_type="application/json")
    assert bad.status_code == 422
    other = {"name": "王", "id_number": make_id(date(1941, 1, 1)), "phone": make_phone(2)}
    keyed = client.post(
        "/api/bookings",
        json=payload(date=day, applicant=other),
        headers={"Idempotency-Key": "rate-limit-test-0001"},
    )
    assert keyed.status_code == 201
    third = {"name": "李", "id_number": make_id(date(1942, 1, 1)), "phone": make_phone(3)}
    over = client.post("/api/bookings", json=payload(date=day, applicant=third))
    assert over.status_code == 429 and over.get_json()["error"] == "rate_limited"
    with app.extensions["onetrip"].read_session() as s:
        assert len(s.scalars(select(Booking)).all()) == 2  # the refused one made nothing
    app.extensions["onetrip"].dispose()


def test_ineligible_names_nearest_station(client: FlaskClient, app: Flask) -> None:
    """A 60-year-old booking for 'other' reasons gets 422 not_eligible and the station nearby."""
    who = {"name": "王", "id_number": make_id(date(1966, 1, 1)), "phone": "13905781234"}
    r = book(client, app, applicant=who, reason="other")
    body = r.get_json()
    assert r.status_code == 422 and body["error"] == "not_eligible"
    assert body["nearest_office"]["name"] == "隆宫乡便民服务中心"


def test_booker_for_someone_else(client: FlaskClient, app: Flask) -> None:
    """A relative can book; the booker's relationship and phone are kept (masked in output)."""
    booker = {"kind": "relative", "name": "吴小明", "phone": "13812345678", "relationship": "儿子"}
    r = book(client, app, booker=booker)
    assert r.status_code == 201


def test_database_down_is_503_not_500(catalog: Any, tmp_path: Path) -> None:
    """With the database unreachable (nothing listens on its port), the API answers 503
    with a Chinese message and Retry-After, and pages show a 503 page: never a 500."""
    from scheduler.web import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
            "SECRET_KEY": SECRET,
            "CATALOG": catalog,
            "GEOCODER": None,
            "SITE_DIR": str(tmp_path),
        }
    )
    client = app.test_client()
    r = client.get("/api/townships")
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.get_json()["error"] == "service_unavailable"
    assert "12345" in r.get_json()["message"] and r.headers["Retry-After"] == "30"
    r = client.post("/api/bookings", json=payload(date=first_date(app)))
    assert r.status_code == 503 and r.get_json()["error"] == "service_unavailable"
    r = client.get("/book/resident-pension-claim?town_code=331126205")
    assert r.status_code == 503 and "系统暂时无法办理" in r.get_data(as_text=True)
    app.extensions["onetrip"].dispose()
