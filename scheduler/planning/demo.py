"""Demo operations data for 庆元县: two weeks of bookings through the real booking
service (its capacity rule decides what is accepted), a clerk on leave one day, a
dispatcher and a second visiting clerk, and tomorrow's plan made and published.

Sample data only: names, ID numbers and phones are generated and belong to nobody.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from routing.solver import SolveParams
from scheduler import identity, ledger
from scheduler.booking import SYSTEM, BookingService
from scheduler.errors import BookingError
from scheduler.models import Booking, Clerk, Shift, StaffUser
from scheduler.planning import service as planning
from scheduler.planning.models import Adjustment
from scheduler.planning.publish import publish
from scheduler.schemas import BookingRequest
from scheduler.settings import Zone
from scheduler.workdays import WorkCalendar

SURNAMES = "吴叶周陈刘李张王胡徐杨毛范姚季练".replace("", " ").split()
GIVEN = (
    "秀英",
    "桂兰",
    "金娥",
    "根土",
    "水仙",
    "春花",
    "德旺",
    "玉莲",
    "土根",
    "月娇",
    "明福",
    "雪梅",
)
VILLAGES = ("村口", "老街", "下村", "上坑", "溪边", "新村")
REASONS = ("age", "age", "age", "alone", "illness", "disability")


def _person(rng: random.Random, k: int, today: date) -> dict[str, str]:
    birth = date(today.year - rng.randint(72, 94), rng.randint(1, 12), rng.randint(1, 28))
    first17 = f"331126{birth:%Y%m%d}{100 + k % 899:03d}"
    return {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "id_number": first17 + identity.check_char(first17),
        "phone": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
    }


def load_bookings(
    session: Session,
    service: BookingService,
    zones: Sequence[Zone],
    days: Sequence[date],
    *,
    now: datetime,
    seed: int = 11,
    per_day: tuple[int, int] = (4, 12),
) -> int:
    """Try to book ``per_day`` visits a working day (most of them confirmed), as residents
    would: the booking service refuses what its capacity rule cannot promise. Returns how
    many were accepted."""
    rng = random.Random(seed)
    items = [i for i in service.catalog.items.values() if i.home_visit.allowed]
    made = 0
    k = 0
    for day in days:
        target = rng.randint(*per_day)
        tries = 0
        done = 0
        while done < target and tries < target * 20:
            tries += 1
            k += 1
            # The county town holds most residents; the far zones fewer.
            zone = rng.choices(zones, [5 if z.code == "city" else 2 for z in zones])[0]
            half = rng.choice(("am", "pm"))
            item = rng.choice(items)
            reason = rng.choice(REASONS)
            body: dict[str, Any] = {
                "item": item.code,
                "applicant": _person(rng, k, day),
                "address": {
                    "town_code": rng.choice(zone.town_codes),
                    "village": "",
                    "detail": f"{rng.choice(VILLAGES)}{rng.randint(1, 80)}号",
                },
                "reason": reason,
                "date": day,
                "half_day": half,
            }
            if reason == "disability":
                body["disability_grade"] = rng.choice((1, 2))
            try:
                b = service.create(
                    session, BookingRequest.model_validate(body), now=now, actor=SYSTEM
                )
            except BookingError:
                continue  # slot full or a duplicate person: as a real day would refuse
            row = session.get(Booking, b.id)
            assert row is not None
            if rng.random() < 0.85:
                service.confirm(session, row, now=now, actor=SYSTEM)
            done += 1
        made += done
    return made


def load(
    session: Session,
    service: BookingService,
    zones: Sequence[Zone],
    today: date,
    *,
    now: datetime,
    calendar: WorkCalendar,
    params: SolveParams | None = None,
) -> dict[str, Any]:
    """The operations part of the demo: bookings, a leave day, tomorrow published."""
    horizon = service.settings.horizon_days
    days = calendar.working_days_between(today + timedelta(days=1), today + timedelta(days=horizon))
    # Shifts only on working days (the base demo skips weekends, not holidays; 调休 days get
    # the weekday pattern of the previous Friday... kept simple: no shifts on days off).
    off = [
        today + timedelta(days=n)
        for n in range(1, horizon + 1)
        if not calendar.is_working_day(today + timedelta(days=n))
    ]
    if off:
        session.execute(delete(Shift).where(Shift.date.in_(off)))
        for day in off:
            service.sync_day(session, day)
    made = load_bookings(session, service, zones, days, now=now)
    clerks = list(session.scalars(select(Clerk).order_by(Clerk.id)))
    # The third working day: the second clerk is on leave (marked after the bookings).
    leave_day = days[2] if len(days) > 2 else None
    if leave_day is not None:
        session.add(
            Adjustment(
                date=leave_day,
                kind="absent",
                clerk_id=clerks[1].id,
                created_at=now.replace(tzinfo=None),
            )
        )
        service.sync_day(session, leave_day)  # as the board does when a clerk is marked absent
    published = None
    if days:
        first = days[0]
        v = planning.plan_day(
            session,
            first,
            catalog=service.catalog,
            now=now,
            params=params or planning.default_params(3.0),
        )
        publish(session, v, service, now=now, actor=SYSTEM)
        published = (first, v.version)
        # This stands for the evening's nightly plan: the scheduler must not make another.
        owner = ledger.new_owner()
        key = f"nightly:{first.isoformat()}"
        if ledger.claim(session, "plan", key, now=now, owner=owner):  # commits the demo so far
            ledger.complete(session, "plan", key, now=now, owner=owner, detail=f"v{v.version} demo")
    session.flush()
    return {
        "bookings": made,
        "days": len(days),
        "leave": (leave_day, clerks[1].name),
        "published": published,
    }


def visiting_clerk_account_ids(session: Session) -> list[int]:
    return [
        u.clerk_id
        for u in session.scalars(select(StaffUser).where(StaffUser.role == "clerk"))
        if u.clerk_id
    ]


def load_operations(session: Session, state: Any, now: datetime) -> str:
    """``onetrip serve --demo``: the operations demo on the app's state; a summary line."""
    from scheduler import workdays
    from scheduler.settings import QINGYUAN_ZONES

    zones = state.settings.zones or QINGYUAN_ZONES
    from scheduler.settings import TZ

    result = load(
        session, state.service, zones, now.astimezone(TZ).date(), now=now, calendar=workdays.load()
    )
    leave_day, leave_name = result["leave"]
    first, version = result["published"] or (None, None)
    return (
        f"Demo bookings: {result['bookings']} over {result['days']} working days; "
        f"{leave_name} on leave {leave_day}; plan for {first} published (version {version})"
    )
