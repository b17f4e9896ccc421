"""Courier test helpers: the real guide catalog, a migrated database, factories."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from scheduler import db
from scheduler.booking import ensure_zones
from scheduler.courier.audit import Actor
from scheduler.courier.intake import FinishRequest, mark_finished
from scheduler.courier.models import Certificate
from scheduler.courier.settings import CourierSettings, WeekdayCalendar
from scheduler.protect import Protector
from scheduler.settings import QINGYUAN_ZONES, TZ

COURIER_TABLES = (
    "courier_notices",
    "courier_events",
    "courier_parcels",
    "courier_batches",
    "courier_certificates",
    "courier_cutoff_claims",
    "courier_signing_keys",
)
# Monday 2026-06-01, 09:00 in Shanghai.
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
MORNING = datetime(2026, 6, 1, 10, 30, tzinfo=TZ)
AFTERNOON = datetime(2026, 6, 1, 15, 30, tzinfo=TZ)
WINDOW = Actor("staff", "window", None)
DISPATCHER = Actor("staff", "dispatch", None)
CALENDAR = WeekdayCalendar()
COURIER_ITEM = "disability-card-new"  # courier_supported and mail_result in the guide
NOT_COURIER_ITEM = "death-household-cancellation"


@functools.cache
def real_catalog() -> Any:
    from guide.catalog import load

    return load()


def settings(**overrides: Any) -> CourierSettings:
    base = CourierSettings(solver_time_limit_s=None, solver_branch_limit=2000)
    return replace(base, **overrides)


def request(**overrides: Any) -> FinishRequest:
    """A good in-county request (隆宫乡) due on Tuesday 2026-06-02, waiting at the hall."""
    values: dict[str, Any] = {
        "case_no": "QY20260601001",
        "item_code": COURIER_ITEM,
        "holder": "吴秀英",
        "phone": "13905781234",
        "scope": "county",
        "town_code": "331126205",
        "detail": "隆宫村12号",
        "promised_date": date(2026, 6, 2),
        "office_code": "county-hall",
    }
    values.update(overrides)
    return FinishRequest(**values)


def out_request(**overrides: Any) -> FinishRequest:
    values: dict[str, Any] = {
        "scope": "out",
        "town_code": "",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "文三路100号",
        "promised_date": date(2026, 6, 5),
    }
    return request(**(values | overrides))


def finish(session: Session, n: int = 0, *, now: datetime = NOW, **overrides: Any) -> Certificate:
    req = (out_request if overrides.pop("out", False) else request)(
        case_no=overrides.pop("case_no", f"QY2026{n:07d}"), **overrides
    )
    return mark_finished(session, real_catalog(), protector(), req, now=now, actor=WINDOW)


def protector() -> Protector:
    """The data keys the test apps use (booking_support's keyring, not the cookie key)."""
    from booking_support import test_keyring

    return Protector(test_keyring())


@pytest.fixture
def courier_db(db_url: str) -> Iterator[sessionmaker[Any]]:
    """A migrated database with 庆元's zones and no courier rows; the write sessions."""
    engine = db.make_engine(db_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(COURIER_TABLES)} RESTART IDENTITY CASCADE"))
    _, write = db.session_factories(engine)
    with write() as s:
        ensure_zones(s, QINGYUAN_ZONES)
        s.commit()
    yield write
    engine.dispose()


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
