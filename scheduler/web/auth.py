"""Staff login plumbing (Flask-Login) over server-side sessions (`scheduler.accounts`).

The cookie holds only a random token (Flask-Login's user id is that token, the pattern
its documentation gives for sessions that must be revocable); the `staff_sessions` row
it names decides whether the login still holds. Other blueprints import
`login_required` and `current_staff` from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, g, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from scheduler import accounts
from scheduler.accounts import ROLES
from scheduler.models import StaffUser
from scheduler.web import ot
from scheduler.web.clock import utcnow

F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["ROLES", "StaffLogin", "current_staff", "log_in", "log_out", "login_required"]


class StaffLogin(UserMixin):  # type: ignore[misc]
    """Flask-Login's user: the session token as id, the staff row as `staff`."""

    def __init__(self, token: str, staff: StaffUser) -> None:
        self.token = token
        self.staff = staff

    def get_id(self) -> str:
        return self.token

    @property
    def is_active(self) -> bool:
        return bool(self.staff.active)


def _load(token: str) -> StaffLogin | None:
    """The login a cookie's token opens, checked against the database on each request."""
    state, now = ot(), utcnow()
    with state.read_session() as session:
        found = accounts.find_session(session, token, now=now)
        user = session.get(StaffUser, found.staff_id) if found is not None else None
    if found is None or user is None:
        return None
    if found.stale:
        # Its own short write, before the request's session exists (on SQLite a write
        # session would hold the writer lock this needs).
        with state.write_session() as session:
            accounts.touch(session, found.token_hash, now=now)
            session.commit()
    return StaffLogin(token, user)


def init_app(app: Flask) -> None:
    manager = LoginManager()
    manager.login_view = "staff.login"
    manager.user_loader(_load)
    manager.init_app(app)


def current_staff() -> StaffUser | None:
    """The logged-in staff member of this request, or None."""
    if current_user.is_authenticated:
        staff: StaffUser = current_user.staff
        return staff
    return None


def login_required(*roles: str) -> Callable[[F], F]:
    """A view for logged-in staff (of one of `roles`, if given); else the login page
    (or 403 for another role). Sets `g.staff` to the StaffUser."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")

    def deco(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                return redirect(url_for("staff.login", next=request.path))
            if roles and staff.role not in roles:
                abort(403)
            g.staff = staff
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def log_in(token: str, staff: StaffUser) -> None:
    login_user(StaffLogin(token, staff))


def log_out() -> str | None:
    """Forget the login in the cookie; the token it held (for ending it on the server)."""
    token = current_user.token if current_user.is_authenticated else None
    logout_user()
    return token
