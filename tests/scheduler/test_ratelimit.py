"""Rate limits counted in the database: shared by every worker, per client address
behind the configured proxies, and a per-account login lock-out with back-off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from booking_support import make_app, staff_password
from flask import Flask

from scheduler import db
from scheduler.limits import RateLimiter


def _limiter(db_url: str) -> tuple[RateLimiter, Any]:
    engine = db.make_engine(db_url)
    limiter = RateLimiter(engine.execution_options(**db.WRITE), db.single_statement_engine(engine))
    return limiter, engine


def test_fixed_window_per_key(db_url: str) -> None:
    """`limit` hits per window and key; the next window starts from zero."""
    rl, engine = _limiter(db_url)
    t = [1000.0]
    rl.clock = lambda: t[0]
    try:
        assert [rl.hit("a", 2, 60) for _ in range(3)] == [True, True, False]
        assert rl.hit("b", 2, 60)  # another key has its own count
        t[0] = 1019.0  # the same window (960..1020): still refused
        assert not rl.hit("a", 2, 60)
        t[0] = 1020.0  # the next window
        assert rl.hit("a", 2, 60) and rl.hit("a", 2, 60) and not rl.hit("a", 2, 60)
    finally:
        engine.dispose()


def test_workers_share_one_count(db_url: str) -> None:
    """Four limiters on one database (four worker processes) allow the limit once, not
    four times."""
    pairs = [_limiter(db_url) for _ in range(4)]
    try:
        allowed = sum(rl.hit("lookup:203.0.113.7", 10, 60) for _ in range(5) for rl, _ in pairs)
        assert allowed == 10
    finally:
        for _, engine in pairs:
            engine.dispose()


def _app(db_url: str, catalog: Any, tmp_path: Path, hops: int, **booking: Any) -> Flask:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    return make_app(db_url, catalog, site, {"TRUSTED_PROXIES": hops}, **booking)


def test_behind_a_proxy_each_client_has_its_own_bucket(
    db_url: str, catalog: Any, tmp_path: Path
) -> None:
    """With one trusted proxy, clients are told apart by X-Forwarded-For: one client over
    its limit does not stop another."""
    app = _app(db_url, catalog, tmp_path, 1, lookup_rate=[2, 60])
    c = app.test_client()

    def look(addr: str) -> int:
        return c.post(
            "/api/bookings/ZZZZZZZZ/lookup",
            json={"phone_last4": "1234"},
            headers={"X-Forwarded-For": addr},
        ).status_code

    try:
        assert [look("198.51.100.1") for _ in range(3)] == [404, 404, 429]
        assert look("198.51.100.2") == 404
    finally:
        app.extensions["onetrip"].dispose()


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(
    db_url: str, catalog: Any, tmp_path: Path
) -> None:
    """With no trusted proxy configured, a client cannot pick a fresh bucket by sending
    X-Forwarded-For itself."""
    app = _app(db_url, catalog, tmp_path, 0, lookup_rate=[2, 60])
    c = app.test_client()
    try:
        codes = [
            c.post(
                "/api/bookings/ZZZZZZZZ/lookup",
                json={"phone_last4": "1234"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(3)
        ]
        assert codes == [404, 404, 429]
    finally:
        app.extensions["onetrip"].dispose()


def test_wrong_passwords_lock_one_account_with_back_off(
    db_url: str, catalog: Any, tmp_path: Path
) -> None:
    """After the allowed wrong passwords an account is locked (even the right password is
    refused) while other accounts log in as usual; the lock grows with more failures."""
    from scheduler.models import StaffUser

    app = _app(db_url, catalog, tmp_path, 0, login_failures_allowed=3)
    c = app.test_client()

    def login(user: str, password: str) -> int:
        html = c.get("/staff/login").get_data(as_text=True)
        token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"username": user, "password": password, "csrf_token": token}
        return c.post("/staff/login", data=data).status_code

    try:
        assert [login("window1", "wrong") for _ in range(3)] == [401, 401, 429]
        assert login("window1", staff_password("window1")) == 429
        assert login("admin1", staff_password("admin1")) == 302
        state = app.extensions["onetrip"]
        with state.read_session() as s:
            u = s.query(StaffUser).filter_by(username="window1").one()
            first = u.locked_until
        with state.write_session() as s:  # the lock has run out; one more wrong password
            u = s.query(StaffUser).filter_by(username="window1").one()
            u.locked_until = None
            s.commit()
        assert login("window1", "wrong") == 429
        with state.read_session() as s:
            u = s.query(StaffUser).filter_by(username="window1").one()
            assert u.failed_logins == 4 and u.locked_until is not None and first is not None
            assert u.locked_until > first + timedelta(seconds=30)  # two minutes, not one
    finally:
        app.extensions["onetrip"].dispose()


def test_lockout_doubles_and_is_capped() -> None:
    """The lock lasts `first`, then twice as long per further failure, at most `longest`."""
    from scheduler.accounts import Lockout

    lock = Lockout(allowed=3, first=timedelta(minutes=1), longest=timedelta(hours=1))
    assert [lock.duration(n) for n in (2, 3, 4, 5)] == [
        None,
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert lock.duration(40) == timedelta(hours=1)
