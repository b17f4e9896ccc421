"""PIPL: personal data never in logs or at rest in clear; masked everywhere but visit cards."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from booking_support import first_date, make_id, payload
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

NAME, PHONE, DETAIL = "欧阳秀英", "13905786789", "隆宫村东头第三家"
ID_NUMBER = make_id(date(1938, 7, 9), 457)
SECRETS = (NAME, PHONE, DETAIL, ID_NUMBER, PHONE[3:7] + PHONE[7:], ID_NUMBER[6:14])


def body(app: Flask, **over: Any) -> dict[str, Any]:
    b = payload(
        date=first_date(app),
        applicant={"name": NAME, "id_number": ID_NUMBER, "phone": PHONE},
        address={"town_code": "331126205", "village": "隆宫村", "detail": DETAIL},
    )
    b.update(over)
    return b


def test_no_personal_data_in_logs(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A full flow with errors, logged at DEBUG, leaves no name, ID, phone or address in any log."""
    caplog.set_level(logging.DEBUG)
    app.logger.setLevel(logging.DEBUG)
    ref = client.post("/api/bookings", json=body(app)).get_json()["reference"]
    client.post("/api/bookings", json=body(app))  # duplicate → 409
    client.post(
        "/api/bookings",
        json=body(app, applicant={"name": NAME, "id_number": ID_NUMBER[:-1] + "0", "phone": PHONE}),
    )
    client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": "0000"})
    client.post(f"/api/bookings/{ref}/lookup", json={"phone_last4": f"{PHONE[-4:]}"})
    client.post(f"/api/bookings/{ref}/cancel", json={"phone_last4": PHONE[-4:]})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ref in logged  # the flow did log, by reference
    for secret in SECRETS:
        assert secret not in logged


def test_nothing_personal_is_stored_in_clear(app: Flask, client: FlaskClient) -> None:
    """Every column of every table is free of the name, full ID, full phone and street detail."""
    assert client.post("/api/bookings", json=body(app)).status_code == 201
    state = app.extensions["onetrip"]
    dumped = []
    with state.engine.connect() as conn:
        for table in ("bookings", "booking_events", "idempotency_keys"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dumped.append(" ".join(str(v) for v in row))
    everything = "\n".join(dumped)
    for secret in SECRETS:
        assert secret not in everything
    assert "3311**************" in everything and "139****6789" in everything


def test_api_answers_are_masked(app: Flask, client: FlaskClient) -> None:
    """The booking answer shows the masked phone and name only."""
    out = client.post("/api/bookings", json=body(app)).get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in out
    assert "欧***" in out


def test_database_errors_carry_no_parameters(engine: Any) -> None:
    """Error messages end up in logs: a failed statement's message shows no parameter values."""
    from datetime import datetime

    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from scheduler import db
    from scheduler.models import BookingEvent

    _, write = db.session_factories(engine)
    row = {
        "booking_id": 999,  # no such booking: the foreign key refuses the row
        "at": datetime(2026, 6, 1),
        "action": "created",
        "actor_kind": "resident",
        "channel": "web",
        "to_status": "pending",
        "detail": DETAIL,
    }
    with write() as s, pytest.raises(IntegrityError) as err:
        s.execute(insert(BookingEvent), row)
    assert "booking_events" in str(err.value) and DETAIL not in str(err.value)


def test_database_errors_are_logged_without_row_values(engine: Any) -> None:
    """PostgreSQL's DETAIL quotes the failing row ("Failing row contains …"): the logged
    traceback of such an error keeps its frames and type but no value."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from scheduler import db
    from scheduler.models import Booking
    from scheduler.web.errors import scrubbed_traceback

    table: Any = Booking.__table__
    row = {c.key: None for c in table.columns if c.key != "id"}
    row.update(reference="ABCDEFGH", applicant_name_masked=NAME, village=DETAIL)
    _, write = db.session_factories(engine)
    with write() as s, pytest.raises(IntegrityError) as err:  # item_code is NOT NULL
        s.execute(insert(table), row)
    logged = scrubbed_traceback(err.value)
    assert "IntegrityError" in logged and "test_privacy.py" in logged
    assert NAME not in logged and DETAIL not in logged and "ABCDEFGH" not in logged


def _candidates(masked: str, age_band: str, on: date) -> int:
    """How many valid ID numbers fit a stored mask and age band on the booking's date,
    for an attacker who also knows the county (the first six digits)."""
    from datetime import timedelta

    from scheduler import identity

    low, _, top = age_band.rstrip("+").partition("-")
    high = int(top) if top else 120
    region = masked[:4] + "26" if masked[4:6] == "**" else masked[:6]
    count = 0
    # Birth dates whose age on `on` falls in the band.
    day = date(on.year - high - 1, on.month, 1)
    while day <= on:
        if int(low) <= identity.age_on(day, on) <= high:
            ymd = f"{day:%Y%m%d}"
            if all(m in ("*", c) for m, c in zip(masked[6:14], ymd, strict=True)):
                for serial in range(1000):
                    first17 = f"{region}{ymd}{serial:03d}"
                    if all(m in ("*", c) for m, c in zip(masked[14:17], first17[14:], strict=True)):
                        if masked[17] == "*":
                            count += 1000 - serial  # every later serial fits as well
                            break
                        count += identity.check_char(first17) == masked[17]
        day += timedelta(days=1)
    return count


def test_stored_columns_leave_at_least_ten_thousand_id_numbers() -> None:
    """From the stored ID columns (mask and age band) an ID number cannot be narrowed
    below 10,000 candidates; the earlier 4+4 mask with the exact age left a few dozen."""
    from scheduler import identity
    from scheduler.models import Booking

    on = date(2026, 6, 1)
    age = identity.age_on(date(1938, 7, 9), on)
    stored = _candidates(identity.mask_id(ID_NUMBER), identity.age_band(age), on)
    assert stored >= 10_000
    assert "age_at_booking" not in Booking.__table__.columns  # type: ignore[attr-defined]
    old_mask = ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
    assert _candidates(old_mask, f"{age}-{age}", on) < 100
