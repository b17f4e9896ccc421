"""The clerk's day on a phone: /staff/my-day (ordered stops, what to bring, status
buttons), its calendar export (.ics) and a printable run sheet."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from icalendar import Calendar, Event
from sqlalchemy import select

from scheduler.errors import BookingError
from scheduler.notify import outbox
from scheduler.planning import bookings as bk
from scheduler.planning import kit
from scheduler.planning import service as planning
from scheduler.planning.models import VisitRecord
from scheduler.web import csrf, db_session, ot
from scheduler.web.auth import login_required
from scheduler.web.clock import utcnow
from scheduler.web.forms import page_day, parse_slot, whole_number
from scheduler.web.present import reveal

bp = Blueprint("clerk", __name__, url_prefix="/staff")
csrf.protect(bp)
CLERK = ("clerk", "admin")


def _hm(stored: datetime | None) -> str:
    return bk.to_local(stored).strftime("%H:%M") if stored else ""


def _clerk_id() -> int | None:
    clerk_id: int | None = g.staff.clerk_id
    chosen = whole_number(request.args.get("clerk", ""))
    if g.staff.role == "admin" and chosen is not None:
        clerk_id = chosen
    return clerk_id


def _stops(day: date, clerk_id: int | None) -> list[bk.Booking]:
    """The clerk's bookings of the day, in the published route's order."""
    if clerk_id is None:
        return []
    rows = list(
        db_session().scalars(
            select(bk.Booking)
            .where(
                bk.Booking.date == day,
                bk.Booking.assigned_clerk_id == clerk_id,
                bk.Booking.status.in_((bk.Status.SCHEDULED, bk.Status.DONE, bk.Status.MISSED)),
            )
            .order_by(bk.Booking.window_start, bk.Booking.id)
        )
    )
    published = planning.latest(db_session(), day, "published")
    if published is not None:
        order: dict[str, int] = {}
        for r in json.loads(published.plan_json)["routes"]:
            if r["clerk_id"] == str(clerk_id):
                order = {s[0]: n for n, s in enumerate(r["stops"])}
        rows.sort(key=lambda b: (order.get(str(b.id), 10**6), b.window_start or datetime.min))
    return rows


def _card(b: bk.Booking, own: bool) -> dict[str, Any]:
    svc = ot().service
    item = svc.catalog.items.get(b.item_code)
    town = svc.catalog.townships.get(b.town_code)
    place = f"{town.name if town else b.town_code}{b.village}"
    lat, lon, datum = b.lat, b.lon, b.datum
    if lat is None or lon is None:
        lat, lon, datum = (town.lat, town.lon, "GCJ-02") if town else (None, None, None)
    record = db_session().get(VisitRecord, b.id)
    return {
        "b": b,
        "reference": b.reference,
        "item_name": item.name if item else b.item_code,
        "window": f"{_hm(b.window_start)}—{_hm(b.window_end)}",
        "name": reveal(svc.protector, b, "applicant_name_enc") if own else b.applicant_name_masked,
        "phone": reveal(svc.protector, b, "phone_enc") if own else b.phone_masked,
        "phone_masked": b.phone_masked,
        "name_masked": b.applicant_name_masked,
        "booker_phone": (
            reveal(svc.protector, b, "booker_phone_enc") if own else b.booker_phone_masked
        )
        if b.booker_phone_enc
        else None,
        "booker_relationship": b.booker_relationship,
        "place": place,
        "address": f"{place} {reveal(svc.protector, b, 'address_detail_enc')}" if own else place,
        "nav": kit.nav_links(lat, lon, datum, place)
        if lat is not None and lon is not None
        else None,
        "bring": kit.what_to_bring(item),
        "status": b.status,
        "status_name": bk.STATUS_ZH[bk.Status(b.status)],
        "arrived": _hm(record.arrived_at) if record and record.arrived_at else "",
        "finished": _hm(record.finished_at) if record and record.finished_at else "",
        "slots": svc.slots(db_session(), b.town_code, utcnow(), staff=True, item=b.item_code)
        if own and b.status == bk.Status.SCHEDULED
        else [],
    }


@bp.get("/my-day")
@login_required(*CLERK)
def my_day() -> Any:
    """The clerk's published stops of a day: the only page with full phones and addresses."""
    day = page_day(request.args.get("date"))
    clerk_id = _clerk_id()
    stops = _stops(day, clerk_id)
    if not request.args.get("date") and not stops:
        # Nothing today: the next day with stops this week (a clerk opens it the evening before).
        for n in range(1, 8):
            stops = _stops(day + timedelta(days=n), clerk_id)
            if stops:
                day += timedelta(days=n)
                break
    own = clerk_id is not None and clerk_id == g.staff.clerk_id
    cards = [_card(b, own) for b in stops]
    return render_template(
        "ops/my_day.html",
        day=day,
        cards=cards,
        clerk_id=clerk_id,
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
    )


@bp.get("/my-day/print")
@login_required(*CLERK)
def run_sheet() -> Any:
    """A printable run sheet: masked names and phones only (paper gets lost)."""
    day = page_day(request.args.get("date"))
    cards = [_card(b, own=False) for b in _stops(day, _clerk_id())]
    return render_template("ops/run_sheet.html", day=day, cards=cards)


@bp.get("/my-day.ics")
@login_required(*CLERK)
def my_day_ics() -> Any:
    """The clerk's days from today on as calendar events (stable UIDs, VTIMEZONE)."""
    first = page_day(request.args.get("date"))
    clerk_id = _clerk_id()
    cal = Calendar()
    cal.add("prodid", "-//OneTrip//庆元县上门办理//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "上门办理任务")
    stamp = utcnow()
    for offset in range(0, 8):
        day = first + timedelta(days=offset)
        for b in _stops(day, clerk_id):
            if b.status != bk.Status.SCHEDULED or not b.window_start or not b.window_end:
                continue
            item = ot().service.catalog.items.get(b.item_code)
            town = ot().service.catalog.townships.get(b.town_code)
            ev = Event()
            ev.add("uid", f"booking-{b.reference}@onetrip.qingyuan")
            ev.add("dtstamp", stamp)
            ev.add("dtstart", bk.to_local(b.window_start))
            ev.add("dtend", bk.to_local(b.window_end))
            ev.add("summary", f"上门办理：{item.name if item else b.item_code}")
            ev.add("location", f"{town.name if town else ''}{b.village}")
            ev.add(
                "description",
                f"预约号 {b.reference}；居民 {b.applicant_name_masked}，详情见上门任务页面",
            )
            cal.add_component(ev)
    cal.add_missing_timezones()
    return Response(
        cal.to_ical(),
        mimetype="text/calendar",
        headers={"Content-Disposition": "attachment; filename=my-day.ics"},
    )


@bp.post("/my-day/<reference>/<action>")
@login_required(*CLERK)
def visit_action(reference: str, action: str) -> Any:
    """到达 / 办结 / 未遇 / 改约 on a clerk's own stop (actual times recorded)."""
    if action not in ("arrive", "done", "missed", "reschedule"):
        abort(404)
    session, now, svc = db_session(), utcnow(), ot().service
    b = session.scalar(select(bk.Booking).where(bk.Booking.reference == reference))
    if b is None:
        abort(404)
    if b.assigned_clerk_id is None or b.assigned_clerk_id != g.staff.clerk_id:
        abort(403)  # only the assigned clerk acts on a stop (an admin has no clerk id)
    record = session.get(VisitRecord, b.id) or VisitRecord(
        booking_id=b.id, clerk_id=b.assigned_clerk_id
    )
    session.add(record)
    try:
        if action == "arrive":
            if b.status != bk.Status.SCHEDULED:
                raise BookingError("该上门已结束。", code="bad_transition")
            record.arrived_at = record.arrived_at or bk.utc_naive(now)
        elif action in ("done", "missed"):
            bk.finish(
                svc, session, b, bk.Status(action), now=now, actor=bk.staff_actor(g.staff, "visit")
            )
            record.finished_at = bk.utc_naive(now)
            record.outcome = action
            if action == "done":
                outbox.queue(session, b, "done", "1", now=now, params=outbox.params_of(svc, b))
        else:
            day, half = parse_slot(request.form.get("slot", ""))
            bk.move(svc, session, b, day, half, now=now, actor=bk.staff_actor(g.staff, "visit"))
            record.outcome = "moved"
            record.finished_at = bk.utc_naive(now)
        session.commit()
    except BookingError as err:
        session.rollback()
        return render_template("error.html", status=err.status, message=err.message_zh), err.status
    return redirect(url_for("clerk.my_day", date=b.date.isoformat()) + f"#stop-{b.reference}")
