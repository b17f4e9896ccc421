"""Helpers for operations tests: bookings made through the real service, a runtime with
a deterministic solver, and the fixed clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from booking_support import NOW, make_id, make_phone
from sqlalchemy import text
from sqlalchemy.orm import Session

from routing._ortools import OrToolsSolver
from routing.solver import SolveParams
from scheduler import jobs
from scheduler.booking import SYSTEM, BookingService
from scheduler.models import Booking
from scheduler.schemas import BookingRequest
from scheduler.workdays import WorkCalendar

# Deterministic: first solution, then local search to its first local optimum.
PARAMS = SolveParams(branch_limit=None, guided_local_search=False)
SOLVER = OrToolsSolver()
VISIT_DAY = date(2026, 6, 2)  # Tuesday; NOW is Monday 10:00 Shanghai
EVENING = datetime(2026, 6, 1, 9, 31, tzinfo=UTC)  # Monday 17:31 Shanghai
# 隆宫 (west), 黄田 (west), 松源 (city), 官塘 (east)
TOWNS = ("331126205", "331126101", "331126001", "331126211")


def book(
    service: BookingService,
    session: Session,
    day: date = VISIT_DAY,
    *,
    n: int = 1,
    towns: Sequence[str] = TOWNS,
    half_day: str = "am",
    item: str = "resident-pension-claim",
    start: int = 0,
    confirm: bool = True,
    now: datetime = NOW,
) -> list[Booking]:
    """``n`` bookings (85-year-olds, age rule) through the booking service, confirmed."""
    out = []
    for k in range(start, start + n):
        req = BookingRequest.model_validate(
            {
                "item": item,
                "applicant": {
                    "name": f"居民{k}",
                    "id_number": make_id(date(1940, 1, 1) + timedelta(days=k), seq=100 + k % 800),
                    "phone": make_phone(k),
                },
                "address": {"town_code": towns[k % len(towns)], "village": "", "detail": f"{k}号"},
                "reason": "age",
                "date": day,
                "half_day": half_day,
            }
        )
        made = service.create(session, req, now=now, actor=SYSTEM)
        b = session.get(Booking, made.id)
        assert b is not None
        if confirm:
            service.confirm(session, b, now=now, actor=SYSTEM)
        out.append(b)
    session.flush()
    return out


def runtime(engine: Any, service: BookingService, **overrides: Any) -> jobs.Runtime:
    from scheduler import db

    read, write = db.session_factories(engine)
    values: dict[str, Any] = {
        "read_session": read,
        "write_session": write,
        "service": service,
        "calendar": WorkCalendar(),
        "params": PARAMS,
        "solver": SOLVER,
        **overrides,
    }
    return jobs.Runtime(**values)


def clear_ledger(engine: Any) -> None:
    """job_runs references no other table, so TRUNCATE … CASCADE of the booking tests
    leaves it; empty it here."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job_runs"))
