"""Under concurrency: never more bookings than places, one booking per Idempotency-Key."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
import requests
from booking_support import (
    NOW,
    TABLES,
    first_date,
    make_id,
    make_phone,
    payload,
    seed,
    small_catalog,
    test_keyring,
    test_settings,
)
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from scheduler import db
from scheduler.booking import UNIQUE_REFERENCE, Actor, BookingService
from scheduler.errors import Conflict, SlotFull
from scheduler.models import Booking, BookingEvent, IdempotencyRecord, Slot
from scheduler.protect import Protector
from scheduler.schemas import BookingRequest

CONTENDERS = 20
STAFF = Actor("staff", "phone", role="window")


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join()


def person(i: int) -> dict[str, str]:
    return {"name": "测试", "id_number": make_id(date(1940, 1, 1), i), "phone": make_phone(i)}


def post_all(
    url: str, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies))

    def go(body: dict[str, Any]) -> requests.Response:
        with requests.Session() as http:
            barrier.wait()
            return http.post(f"{url}/api/bookings", json=body, headers=headers or {}, timeout=60)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(go, bodies))


def count(app: Flask, model: Any) -> int:
    with app.extensions["onetrip"].read_session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_twenty_threads_race_for_the_last_place(app: Flask, server: str) -> None:
    """With one place left, 20 simultaneous requests give exactly one 201 and nineteen 409."""
    day = first_date(app)
    first = requests.post(
        f"{server}/api/bookings", json=payload(date=day, applicant=person(999)), timeout=30
    )
    assert first.status_code == 201
    results = post_all(server, [payload(date=day, applicant=person(i)) for i in range(CONTENDERS)])
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * (CONTENDERS - 1), [
        r.text for r in results if r.status_code >= 500
    ]
    assert all(r.json()["error"] == "slot_full" for r in results if r.status_code == 409)
    with app.extensions["onetrip"].read_session() as s:
        slot = s.scalars(
            select(Slot).where(
                Slot.zone_code == "west",
                Slot.half_day == "am",
                Slot.date == date.fromisoformat(day),
            )
        ).one()
        assert (slot.booked, slot.capacity) == (2, 2)
    assert count(app, Booking) == 2


def test_same_idempotency_key_twenty_times_at_once(app: Flask, server: str) -> None:
    """Twenty simultaneous retries with one Idempotency-Key create one booking, same answer."""
    body = payload(date=first_date(app))
    results = post_all(server, [body] * CONTENDERS, headers={"Idempotency-Key": "retry-storm-1"})
    assert {r.status_code for r in results} == {201}, [r.text for r in results]
    assert len({r.json()["reference"] for r in results}) == 1
    assert count(app, Booking) == 1
    assert count(app, IdempotencyRecord) == 1


def _contend(url: str, day: str, start: int, n: int, barrier: Any, out: Any) -> None:
    """One process: its own engine and service, n booking attempts after the barrier."""
    engine = db.make_engine(url)
    _, write = db.session_factories(engine)
    svc = BookingService(small_catalog(), test_settings(), Protector(test_keyring()))
    barrier.wait()
    for i in range(start, start + n):
        req = BookingRequest.model_validate(payload(date=day, applicant=person(i)), strict=False)
        with write() as s:
            try:
                svc.create(s, req, now=NOW)
                s.commit()
                out.put("ok")
            except SlotFull:
                s.rollback()
                out.put("full")
            except Exception as exc:  # reported to the parent, which fails the test
                out.put(f"error {type(exc).__name__}")
    engine.dispose()


def seeded_service(db_url: str) -> tuple[Any, Any, BookingService]:
    """An engine, its write-session factory and a service over three seeded days."""
    engine = db.make_engine(db_url)
    _, write = db.session_factories(engine)
    settings = test_settings()
    with write() as s:
        seed(s, settings, NOW.date(), days=3)
        s.commit()
    return engine, write, BookingService(small_catalog(), settings, Protector(test_keyring()))


def emptied(postgres_url: str) -> str:
    """The PostgreSQL database, its tables emptied (the `db_url` fixture runs on both)."""
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_url


def wait_until_a_booking_waits_on_a_lock(engine: Any) -> None:
    """Until exactly one booking statement waits on a lock (PostgreSQL)."""
    waiting_booking = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND query LIKE 'WITH place%'"
    )
    with engine.connect() as watch:
        for _ in range(500):
            waiting = watch.scalar(waiting_booking)
            watch.rollback()  # pg_stat_activity is read once per transaction
            if waiting:
                break
            time.sleep(0.01)
        assert waiting == 1


@pytest.mark.slow
def test_four_processes_race_for_the_last_place(db_url: str) -> None:
    """Four processes × five attempts for one remaining place: exactly one succeeds."""
    engine, write, svc = seeded_service(db_url)
    day = "2026-06-02"
    with write() as s:
        svc.create(
            s,
            BookingRequest.model_validate(payload(date=day, applicant=person(900)), strict=False),
            now=NOW,
        )
        s.commit()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(db_url, day, 5 * k, 5, barrier, out)) for k in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(CONTENDERS)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(results) == ["full"] * (CONTENDERS - 1) + ["ok"]
    with write() as s:
        booked = s.scalar(
            select(Slot.booked).where(
                Slot.zone_code == "west", Slot.date == date(2026, 6, 2), Slot.half_day == "am"
            )
        )
        assert booked == 2
    engine.dispose()


@pytest.mark.slow
def test_opposite_moves_neither_deadlock_nor_leak_places(db_url: str) -> None:
    """Two bookings swapping half-days at the same moment, 15 times: no error, counts exact."""
    engine, write, svc = seeded_service(db_url)
    day = date(2026, 6, 2)
    refs = []
    for i, half in enumerate(("am", "pm")):
        with write() as s:
            body = payload(date=day.isoformat(), half_day=half, applicant=person(700 + i))
            req = BookingRequest.model_validate(body, strict=False)
            refs.append(svc.create(s, req, now=NOW).reference)
            s.commit()
    errors: list[str] = []

    def move(ref: str, half: str, barrier: threading.Barrier) -> None:
        barrier.wait()  # before the session: on SQLite a write session queues on a file lock
        with write() as s:
            booking = s.scalars(select(Booking).where(Booking.reference == ref)).one()
            try:
                svc.move(s, booking, day, half, now=NOW, actor=STAFF)
                s.commit()
            except Exception as exc:  # the test fails on any
                s.rollback()
                errors.append(type(exc).__name__)

    for round_ in range(15):
        halves = ("pm", "am") if round_ % 2 == 0 else ("am", "pm")
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=move, args=(ref, half, barrier))
            for ref, half in zip(refs, halves, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    with write() as s:
        booked = s.scalars(
            select(Slot.booked).where(Slot.zone_code == "west", Slot.date == day)
        ).all()
        assert sorted(booked) == [1, 1]
    engine.dispose()


def test_same_person_twice_at_once(app: Flask, server: str) -> None:
    """Ten simultaneous identical requests without an Idempotency-Key (a double tap on a
    client that sends none): one booking, nine duplicate answers, one place taken."""
    day = first_date(app)
    results = post_all(server, [payload(date=day)] * 10)
    assert sorted(r.status_code for r in results) == [201] + [409] * 9, [r.text for r in results]
    assert {r.json()["error"] for r in results if r.status_code == 409} == {"duplicate_booking"}
    assert count(app, Booking) == 1
    with app.extensions["onetrip"].read_session() as s:
        assert s.scalar(select(func.sum(Slot.booked))) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("second_on", ["autocommit", "session"])
def test_duplicate_that_commits_meanwhile_is_refused_and_takes_no_place(
    postgres_url: str, second_on: str
) -> None:
    """PostgreSQL: while one booking of a person is not yet committed, the same person's
    second booking (another half-day) passes the duplicate check, waits on the unique
    index, and once the first commits is answered "duplicate" with its place given back.
    The second runs as the API runs it (autocommit) or in an ORM session as the staff
    and resident pages do, which must be usable again after rolling back."""
    engine, write, svc = seeded_service(emptied(postgres_url))
    single = db.single_statement_engine(engine)
    day = "2026-06-02"
    first = write()
    svc.create(first, BookingRequest.model_validate(payload(date=day), strict=False), now=NOW)
    outcome: list[str] = []

    def second() -> None:
        req = BookingRequest.model_validate(payload(date=day, half_day="pm"), strict=False)
        if second_on == "autocommit":
            with single.connect() as conn:
                try:
                    svc.create(conn, req, now=NOW)
                    outcome.append("created")
                except Conflict as err:
                    outcome.append(err.code)
            return
        with write() as s:
            try:
                svc.create(s, req, now=NOW)
                s.commit()
                outcome.append("created")
            except Conflict as err:
                s.rollback()
                outcome.append(err.code)
                outcome.append(str(s.scalar(select(func.count()).select_from(Booking))))

    thread = threading.Thread(target=second)
    thread.start()
    wait_until_a_booking_waits_on_a_lock(engine)  # for the first's index entry
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert outcome == ["duplicate_booking"] + (["1"] if second_on == "session" else [])
    with write() as s:
        rows = s.execute(
            select(Slot.half_day, Slot.booked).where(
                Slot.zone_code == "west", Slot.date == date(2026, 6, 2)
            )
        )
        assert {half: booked for half, booked in rows} == {"am": 1, "pm": 0}
        assert s.scalar(select(func.count()).select_from(Booking)) == 1
        assert s.scalar(select(func.count()).select_from(BookingEvent)) == 1
    single.dispose()
    engine.dispose()


@pytest.mark.postgres
def test_reference_constraint_is_the_one_the_service_retries_on(postgres_url: str) -> None:
    """The PostgreSQL booking retries a concurrent reference clash by the constraint's
    name; the name must be the one the migrations create."""
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        names = conn.scalars(
            text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'bookings'::regclass"
                " AND contype = 'u'"
            )
        ).all()
    engine.dispose()
    assert UNIQUE_REFERENCE in names


@pytest.mark.postgres
def test_reference_drawn_twice_at_once_is_drawn_again(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, autocommit: a booking whose random reference another booking holds
    but has not yet committed waits, fails on the unique constraint, and is made again
    with a new reference: two bookings, two places, no error."""
    engine, write, svc = seeded_service(emptied(postgres_url))
    single = db.single_statement_engine(engine)
    draws = iter(["AAAAAAAA", "AAAAAAAA", "BBBBBBBB"])
    monkeypatch.setattr("scheduler.identity.new_reference", lambda: next(draws))
    day = "2026-06-02"
    first = write()
    body = payload(date=day, applicant=person(1))
    svc.create(first, BookingRequest.model_validate(body, strict=False), now=NOW)
    made: list[str] = []

    def second() -> None:
        req = BookingRequest.model_validate(payload(date=day, applicant=person(2)), strict=False)
        with single.connect() as conn:
            made.append(svc.create(conn, req, now=NOW).reference)

    thread = threading.Thread(target=second)
    thread.start()
    wait_until_a_booking_waits_on_a_lock(engine)
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert made == ["BBBBBBBB"]
    with write() as s:
        assert sorted(s.scalars(select(Booking.reference))) == ["AAAAAAAA", "BBBBBBBB"]
        assert s.scalar(select(func.sum(Slot.booked))) == 2
    single.dispose()
    engine.dispose()
