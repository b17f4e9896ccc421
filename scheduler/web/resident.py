"""Server-rendered resident pages: book without JavaScript, look up, cancel, move."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from scheduler import idempotency
from scheduler.booking import RESIDENT_WEB, WrongPhoneSuffix
from scheduler.courier.errors import CourierError
from scheduler.errors import BookingError, InvalidField, NotFound
from scheduler.web import csrf, db_session, ot, resident_lookup
from scheduler.web.clock import utcnow
from scheduler.web.courier import resident_delivery
from scheduler.web.forms import (
    BOOKER_KINDS,
    FIELD_LABELS,
    REASONS,
    booking_request,
    parse_slot,
)
from scheduler.web.present import day_text, to_dict
from scheduler.web.ratelimit import client_key

bp = Blueprint("resident", __name__)
csrf.protect(bp)


@bp.errorhandler(BookingError)
def _booking_error(err: BookingError) -> Any:
    """Errors not handled by a form re-render: a plain page with the Chinese message."""
    return render_template("error.html", status=err.status, message=err.message_zh), err.status


def _limited(bucket: str) -> bool:
    limit, per = getattr(ot().settings, f"{bucket}_rate")
    return not ot().limiter.hit(client_key(bucket), limit, per)


def _form_context(item: Any, **extra: Any) -> dict[str, Any]:
    svc = ot().service
    now = utcnow()
    town = request.form.get("town_code") or request.args.get("town_code", "")
    form = request.form if request.method == "POST" else {"town_code": town}
    slots = None
    if town in svc.catalog.townships:
        try:
            found = svc.slots(db_session(), town, now, item=item.code)
            slots = [s for s in found if s.remaining > 0]
        except BookingError:
            slots = []
    return {
        "town_code": town,
        "slots": slots,
        "item": item,
        "townships": list(svc.catalog.townships.values()),
        "reasons": REASONS,
        "booker_kinds": BOOKER_KINDS,
        "first_date": svc.first_bookable(now).isoformat(),
        "last_date": svc.last_bookable(now).isoformat(),
        "form": form,
        "submission": request.form.get("submission") or secrets.token_urlsafe(16),
        "labels": FIELD_LABELS,
        **extra,
    }


@bp.route("/book/<item_code>", methods=["GET", "POST"])
def book(item_code: str) -> Any:
    svc = ot().service
    item = svc.catalog.items.get(item_code)
    if item is None or not item.home_visit.allowed:
        return render_template("error.html", status=404, message="该事项不提供上门办理。"), 404
    if request.method == "GET":
        return render_template("book_form.html", **_form_context(item))
    if _limited("write"):
        return render_template("error.html", status=429, message="操作太频繁，请稍后再试。"), 429
    session, now = db_session(), utcnow()
    try:
        req = booking_request(request.form, item.code)
        key = idempotency.check_key(request.form.get("submission", ""), prefix="form:")
        fingerprint = svc.protector.keyed_hash(req.model_dump_json(), purpose="idempotency")
        replay = idempotency.claim(session, key, fingerprint, now)
        if replay is not None:
            return redirect(url_for("resident.booked", reference=replay.body["reference"]))
        booking = svc.create(session, req, now=now, actor=RESIDENT_WEB)
        body = to_dict(svc, booking, now)
        idempotency.store(session, key, 201, body)
        session.commit()
    except BookingError as err:
        session.rollback()
        return (
            render_template("book_form.html", **_form_context(item, error=err)),
            err.status,
        )
    return render_template("book_done.html", booking=body, created=True)


@bp.get("/book/done/<reference>")
def booked(reference: str) -> Any:
    # After a repeated form submission: the reference only; status needs the phone suffix.
    return render_template("book_done.html", booking={"reference": reference}, created=False)


@bp.route("/booking", methods=["GET", "POST"])
def lookup() -> Any:
    if request.method == "GET":
        if "phone_last4" in request.args:
            # A phone suffix in a URL ends up in logs: only the form's POST is answered.
            err = InvalidField("请在下面的表单中填写手机号后四位后查询。", field="phone_last4")
            return render_template("lookup.html", error=err), 400
        return render_template("lookup.html", error=None)
    if _limited("lookup"):
        return render_template("error.html", status=429, message="查询太频繁，请稍后再试。"), 429
    reference, last4 = request.form.get("reference", ""), request.form.get("phone_last4", "")
    try:
        if not (len(last4) == 4 and last4.isdigit()):
            raise InvalidField("请填写手机号后四位。", field="phone_last4")
        booking = resident_lookup(db_session(), reference, last4)
    except WrongPhoneSuffix as err:
        return render_template("lookup.html", error=err), err.status
    except NotFound as err:
        # Not a booking: perhaps the reference of a certificate sent by courier.
        try:
            delivery = resident_delivery(db_session(), reference, last4)
        except CourierError as courier_err:
            shown = err if courier_err.status == 404 else courier_err
            return render_template("lookup.html", error=shown), shown.status
        return render_template("courier/delivery_status.html", delivery=delivery)
    except BookingError as err:
        return render_template("lookup.html", error=err), err.status
    return _status_page(booking, last4)


def _status_page(
    booking: Any,
    last4: str,
    error: BookingError | None = None,
    status: int = 200,
    done: str = "",
) -> Any:
    svc, now = ot().service, utcnow()
    slots = []
    if svc.can_change(booking, now):
        found = svc.slots(db_session(), booking.town_code, now, item=booking.item_code)
        slots = [s for s in found if s.remaining > 0]
    return (
        render_template(
            "status.html",
            booking=to_dict(svc, booking, now),
            last4=last4,
            slots=slots,
            error=error,
            done=done,
        ),
        status,
    )


@bp.post("/booking/<reference>/<action>")
def change(reference: str, action: str) -> Any:
    if action not in ("cancel", "move"):
        return render_template("error.html", status=404, message="没有这个地址。"), 404
    if _limited("lookup"):
        return render_template("error.html", status=429, message="操作太频繁，请稍后再试。"), 429
    svc, session, now = ot().service, db_session(), utcnow()
    last4 = request.form.get("phone_last4", "")
    try:
        booking = resident_lookup(session, reference, last4)
    except BookingError as err:
        return render_template("lookup.html", error=err), err.status
    if action == "cancel" and request.form.get("confirm") != "yes":
        # Destructive: one more page to confirm (a plain form, works without JavaScript).
        return render_template(
            "cancel_confirm.html",
            booking=to_dict(svc, booking, now),
            action=url_for("resident.change", reference=booking.reference, action="cancel"),
            keep={"phone_last4": last4},
            back=url_for("resident.lookup"),
            back_post={"reference": booking.reference, "phone_last4": last4},
        )
    try:
        if action == "cancel":
            svc.cancel(session, booking, now=now, actor=RESIDENT_WEB)
            done = "预约已取消。"
        else:
            day, half = parse_slot(request.form.get("slot", ""))
            svc.move(
                session,
                booking,
                day,
                half,
                now=now,
                actor=RESIDENT_WEB,
            )
            done = f"已改到 {day_text(day, half)}。"
        session.commit()
    except BookingError as err:
        session.rollback()
        booking = svc.lookup(session, reference, last4, now=now)
        return _status_page(booking, last4, err, err.status)
    return _status_page(booking, last4, done=done)
