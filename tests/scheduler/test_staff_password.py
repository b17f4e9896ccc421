"""A staff member's own password page (/staff/password): the CLI's policy, the current
password checked as a login checks it (lock-out included), every other login ended."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from booking_support import staff_password
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler import accounts
from scheduler.models import StaffSession, StaffUser

NEW = "a-much-longer-new-password"


def csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def login(client: FlaskClient, username: str, password: str | None = None) -> int:
    data = {
        "username": username,
        "password": password if password is not None else staff_password(username),
        "csrf_token": csrf(client, "/staff/login"),
    }
    return client.post("/staff/login", data=data).status_code


def change(
    client: FlaskClient, current: str, new: str, again: str | None = None
) -> tuple[int, str]:
    data = {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
        "csrf_token": csrf(client, "/staff/password"),
    }
    r = client.post("/staff/password", data=data)
    return r.status_code, r.get_data(as_text=True)


def failed_logins(app: Flask, username: str = "window1") -> int:
    with app.extensions["onetrip"].read_session() as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        return int(user.failed_logins or 0)


def test_the_page_is_linked_from_the_staff_menu_and_needs_a_login(
    client: FlaskClient,
) -> None:
    """Not logged in: the login page. Logged in: every staff page's menu links to it."""
    r = client.get("/staff/password")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    assert login(client, "clerk1") == 302
    assert 'href="/staff/password"' in client.get("/staff/visits").get_data(as_text=True)
    page = client.get("/staff/password").get_data(as_text=True)
    assert "当前密码" in page and "再次输入新密码" in page


def test_a_change_ends_every_other_login_and_keeps_this_one(
    app: Flask, client: FlaskClient
) -> None:
    """The new password works and the old one not; a second browser's login and a cookie
    saved before the change are dead; this browser stays logged in with a new cookie."""
    assert login(client, "window1") == 302
    saved = client.get_cookie("session")
    assert saved is not None
    elsewhere = app.test_client()
    assert login(elsewhere, "window1") == 302
    status, page = change(client, staff_password("window1"), NEW)
    assert status == 200 and "密码已修改" in page
    assert client.get("/staff/").status_code == 200  # this browser: re-established
    assert client.get_cookie("session").value != saved.value  # type: ignore[union-attr]
    assert elsewhere.get("/staff/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", saved.value)
    r = replay.get("/staff/")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    with app.extensions["onetrip"].read_session() as s:
        open_logins = s.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None)))
        assert len(open_logins.all()) == 1
    assert login(app.test_client(), "window1") == 401
    assert login(app.test_client(), "window1", NEW) == 302


def test_a_wrong_current_password_changes_nothing_and_counts_toward_the_lockout(
    app: Flask, client: FlaskClient
) -> None:
    """A wrong current password is refused (401) and counted like a wrong login; after
    the allowed number the account is locked (429), here and on the login page."""
    assert login(client, "window1") == 302
    status, page = change(client, "not-the-password", NEW)
    assert status == 401 and "当前密码不正确" in page
    assert failed_logins(app) == 1
    allowed = app.extensions["onetrip"].settings.login_failures_allowed
    for _ in range(allowed - 1):
        change(client, "not-the-password", NEW)
    status, page = change(client, staff_password("window1"), NEW)
    assert status == 429 and "锁定" in page
    assert login(app.test_client(), "window1") == 429
    assert login(app.test_client(), "window1", NEW) == 429


def test_new_passwords_that_differ_are_refused(app: Flask, client: FlaskClient) -> None:
    assert login(client, "window1") == 302
    status, page = change(client, staff_password("window1"), NEW, NEW + "x")
    assert status == 400 and "两次输入的新密码不一致" in page
    assert client.get("/staff/").status_code == 200  # nothing ended
    assert login(app.test_client(), "window1", NEW) == 401


def test_a_password_shorter_than_the_clis_minimum_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    """The CLI's policy (accounts.MIN_PASSWORD characters); no guess is counted for it."""
    from scheduler.accounts import MIN_PASSWORD

    assert login(client, "window1") == 302
    short = "x" * (MIN_PASSWORD - 1)
    status, page = change(client, staff_password("window1"), short)
    assert status == 400 and f"至少需要{MIN_PASSWORD}个字符" in page
    assert login(app.test_client(), "window1", short) == 401
    assert login(app.test_client(), "window1") == 302


def test_the_change_needs_the_forms_csrf_token(app: Flask, client: FlaskClient) -> None:
    assert login(client, "window1") == 302
    data = {
        "current_password": staff_password("window1"),
        "new_password": NEW,
        "new_password_again": NEW,
    }
    assert client.post("/staff/password", data=data).status_code == 400
    assert client.post("/staff/password", data={**data, "csrf_token": "forged"}).status_code == 400
    assert client.get("/staff/").status_code == 200
    assert login(app.test_client(), "window1", NEW) == 401


def test_password_hashes_run_outside_the_write_transaction(
    app: Flask, client: FlaskClient, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking and making a password hash is scrypt, about 0.1 s: on SQLite the writer
    lock must not be held meanwhile, or every booking of the county waits behind a login.
    Probed from another connection each time a hash is checked or made."""
    if not db_url.startswith("sqlite:///"):
        pytest.skip("PostgreSQL has no database-wide writer lock")
    path = db_url.removeprefix("sqlite:///")
    held: list[bool] = []

    def probe() -> None:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            held.append(False)
        except sqlite3.OperationalError:
            held.append(True)
        finally:
            other.close()

    def probed(real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            probe()
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(accounts, "check_password_hash", probed(accounts.check_password_hash))
    monkeypatch.setattr(accounts, "generate_password_hash", probed(accounts.generate_password_hash))
    assert login(client, "window1", "wrong-password") == 401
    assert login(client, "window1") == 302
    assert change(client, "wrong-password", NEW)[0] == 401
    assert change(client, staff_password("window1"), NEW)[0] == 200
    assert len(held) == 6 and not any(held), held  # 2 logins, 2 changes of 2 hashes
    assert failed_logins(app) == 0
