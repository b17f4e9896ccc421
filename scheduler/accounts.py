"""Staff accounts: logins that the server can end, and a lock-out against guessed passwords.

A login is a `staff_sessions` row keyed by the SHA-256 of a random token that only the
browser's cookie holds. It ends on logout, on a password change (the CLI's, or the
user's own, which starts a new login for the browser that made it), on deactivation,
and after `idle` without use. Wrong passwords in a row lock the account for a time that
doubles with each further failure.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from scheduler.booking.dates import utc_naive
from scheduler.models import StaffSession, StaffUser

ROLES = ("window", "clerk", "dispatcher", "admin")
MIN_PASSWORD = 10
# A working day without use ends a login; its last use is written at most this often.
IDLE = timedelta(hours=9)
TOUCH_EVERY = timedelta(minutes=5)
# Checked against when the user does not exist, so both paths cost one hash.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


@dataclass(frozen=True, slots=True)
class Lockout:
    """How wrong passwords lock an account: after `allowed` in a row, for `first`, then
    twice as long after each further failure, at most `longest`."""

    allowed: int = 5
    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)

    def duration(self, failures: int) -> timedelta | None:
        if failures < self.allowed:
            return None
        doubled: timedelta = self.first * (1 << min(failures - self.allowed, 30))
        return min(doubled, self.longest)


class LoginRefused(Exception):
    """Wrong name or password (one message for both), or an account locked for now."""

    def __init__(self, message_zh: str, *, locked_until: datetime | None = None) -> None:
        super().__init__("login refused")
        self.message_zh = message_zh
        self.locked_until = locked_until


WRONG_ZH = "用户名或密码不正确。"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_staff(
    session: Session,
    username: str,
    password: str,
    role: str,
    name: str,
    clerk_id: int | None = None,
    *,
    password_hash: str | None = None,
) -> StaffUser:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    user = StaffUser(
        username=username,
        name=name,
        password_hash=password_hash or generate_password_hash(password),
        role=role,
        clerk_id=clerk_id,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def by_username(session: Session, username: str) -> StaffUser | None:
    if not username.isprintable():  # a NUL cannot even reach PostgreSQL
        return None
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The slow part of a login, done before its write transaction: the stored hash the
    password was checked against (None: no such user, or locked then) and the answer."""

    username: str
    against: str | None
    matches: bool


def check_password(
    session: Session, username: str, password: str, *, now: datetime
) -> PasswordCheck:
    """Read-only. Runs the password hash (scrypt, about 0.1 s): call it on a read session
    before the write, so that on SQLite nobody waits for the writer lock meanwhile. A
    locked account's password is not looked at."""
    user = by_username(session, username)
    if user is not None and user.locked_until is not None and user.locked_until > utc_naive(now):
        return PasswordCheck(username, None, False)
    stored = user.password_hash if user is not None else None
    return PasswordCheck(username, stored, check_password_hash(stored or _DUMMY_HASH, password))


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    lockout: Lockout,
    checked: PasswordCheck | None = None,
) -> StaffUser:
    """The active user with this name and password; else LoginRefused. Counts wrong
    passwords on the account (the caller commits, refused or not). `checked`, from
    `check_password` on the same name, saves hashing here unless the stored hash changed
    since."""
    user = by_username(session, username)
    stamp = utc_naive(now)
    if user is not None and user.locked_until is not None and user.locked_until > stamp:
        # Refused without looking at the password: guessing on cannot get through.
        raise LoginRefused(
            "该账号因多次输错密码已暂时锁定，请稍后再试或联系管理员。",
            locked_until=user.locked_until,
        )
    stored = user.password_hash if user is not None else None
    if checked is not None and (checked.username, checked.against) == (username, stored):
        ok = checked.matches
    else:
        ok = check_password_hash(stored or _DUMMY_HASH, password)
    if user is None or not user.active:
        raise LoginRefused(WRONG_ZH)
    if not ok:
        user.failed_logins = (user.failed_logins or 0) + 1
        wait = lockout.duration(user.failed_logins)
        user.locked_until = stamp + wait if wait is not None else None
        session.flush()
        raise LoginRefused(WRONG_ZH, locked_until=user.locked_until)
    user.failed_logins, user.locked_until = 0, None
    session.flush()
    return user


def start_session(session: Session, user: StaffUser, *, now: datetime) -> str:
    """A new login for `user`; the token for the cookie (stored only as its hash)."""
    token = secrets.token_urlsafe(32)
    stamp = utc_naive(now)
    session.add(
        StaffSession(
            token_hash=token_hash(token), staff_id=user.id, created_at=stamp, last_seen_at=stamp
        )
    )
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class Login:
    """A valid login: its row's key and whether its last use should be written now."""

    token_hash: str
    staff_id: int
    stale: bool


def find_session(
    session: Session, token: str, *, now: datetime, idle: timedelta = IDLE
) -> Login | None:
    """The login this token opens, if it has not ended, its user is active and it was
    used within `idle`."""
    digest = token_hash(token)
    row = session.execute(
        select(StaffSession.staff_id, StaffSession.last_seen_at, StaffSession.ended_at)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == digest, StaffUser.active)
    ).first()
    stamp = utc_naive(now)
    if row is None or row.ended_at is not None or row.last_seen_at <= stamp - idle:
        return None
    return Login(digest, int(row.staff_id), row.last_seen_at <= stamp - TOUCH_EVERY)


def touch(session: Session, digest: str, *, now: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == digest)
        .values(last_seen_at=utc_naive(now))
    )


def end_session(session: Session, token: str, *, now: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == token_hash(token), StaffSession.ended_at.is_(None))
        .values(ended_at=utc_naive(now))
    )


def end_all_sessions(session: Session, staff_id: int, *, now: datetime) -> int:
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .values(ended_at=utc_naive(now))
    )
    return int(getattr(result, "rowcount", 0))


def new_password_hash(password: str) -> str:
    """The stored form of a new password (slow, as checking one); ValueError when the
    password breaks the rule."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def set_password(
    session: Session,
    user: StaffUser,
    password: str,
    *,
    now: datetime,
    password_hash: str | None = None,
) -> None:
    """A new password (or its `new_password_hash`, made before the write); every login
    of the account ends."""
    user.password_hash = password_hash or new_password_hash(password)
    user.failed_logins, user.locked_until = 0, None
    end_all_sessions(session, user.id, now=now)
    session.flush()


def change_own_password(
    session: Session,
    user: StaffUser,
    current: str,
    new: str,
    *,
    now: datetime,
    lockout: Lockout,
    checked: PasswordCheck | None = None,
    new_hash: str | None = None,
) -> str:
    """A logged-in user's own change: `current` is checked as a login would check it (a
    wrong one counts toward the account's lock-out; a locked account is refused); then
    the new password, every login of the account ending, and one new login, whose token
    is returned for the browser that asked. LoginRefused or ValueError (the policy of
    `new_password_hash`); the caller commits, refused or not. `checked` and `new_hash`,
    computed before the write transaction, keep the slow hashes out of it."""
    new_hash = new_hash or new_password_hash(new)
    user = authenticate(session, user.username, current, now=now, lockout=lockout, checked=checked)
    set_password(session, user, new, now=now, password_hash=new_hash)
    return start_session(session, user, now=now)


def deactivate(session: Session, user: StaffUser, *, now: datetime) -> None:
    """The account can no longer log in; its logins end."""
    user.active = False
    end_all_sessions(session, user.id, now=now)
    session.flush()
