"""Sample operations data: zones of 庆元县, clerks, their shifts, staff accounts."""
# add_staff lived here before scheduler.accounts; it is re-exported for old imports.

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from scheduler.accounts import add_staff
from scheduler.booking import CapacityRule, PerClerk, add_shift, ensure_zones
from scheduler.models import HALF_DAYS, Clerk
from scheduler.settings import QINGYUAN_ZONES, BookingSettings

__all__ = ["CLERKS", "Account", "add_staff", "load_demo"]

# Sample clerks (not real people): name and skill ids from content/skills.yml.
CLERKS = (
    ("叶晓燕", "social-insurance,medical-insurance"),
    ("吴建平", "household-photo"),
    ("周丽萍", "social-insurance,civil-affairs"),
    ("陈志强", "disability-assessment,civil-affairs,social-insurance"),
)


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str
    role: str
    name: str


def load_demo(
    session: Session,
    settings: BookingSettings,
    today: date,
    *,
    zones: Any = QINGYUAN_ZONES,
    passwords: dict[str, str] | None = None,
    capacity_rule: CapacityRule | None = None,
) -> list[Account]:
    """Zones, five clerks, shifts on working days over the horizon (the slots' places
    from ``capacity_rule``, by default a flat number per clerk), four staff accounts
    (window, clerk, dispatcher, admin)."""
    rule = capacity_rule or PerClerk(settings.visits_per_clerk_half_day)
    ensure_zones(session, settings.zones or zones)
    zone_codes = [z.code for z in settings.zones or zones]
    clerks = []
    for name, skills in CLERKS:
        clerk = Clerk(name=name, skills=skills)
        session.add(clerk)
        clerks.append(clerk)
    session.flush()
    for offset in range(1, settings.horizon_days + 1):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for half_index, half in enumerate(HALF_DAYS):
            # Each clerk covers one zone per half-day, rotating so every zone is served.
            for i, clerk in enumerate(clerks):
                zone = zone_codes[(i + offset + half_index) % len(zone_codes)]
                add_shift(session, clerk.id, zone, day, half, rule)
    passwords = passwords or {}
    accounts = [
        Account(
            "chuangkou",
            passwords.get("chuangkou") or secrets.token_urlsafe(9),
            "window",
            "窗口 王芳",
        ),
        Account(
            "shangmen",
            passwords.get("shangmen") or secrets.token_urlsafe(9),
            "clerk",
            clerks[0].name,
        ),
        Account(
            "shangmen2",
            passwords.get("shangmen2") or secrets.token_urlsafe(9),
            "clerk",
            clerks[2].name,
        ),
        Account(
            "diaodu",
            passwords.get("diaodu") or secrets.token_urlsafe(9),
            "dispatcher",
            "调度 陈静",
        ),
        Account(
            "admin", passwords.get("admin") or secrets.token_urlsafe(9), "admin", "管理员 刘洋"
        ),
    ]
    clerk_of = {"shangmen": clerks[0].id, "shangmen2": clerks[2].id}
    for acc in accounts:
        add_staff(
            session, acc.username, acc.password, acc.role, acc.name, clerk_of.get(acc.username)
        )
    return accounts
