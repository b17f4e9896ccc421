"""Staff pages: login, phone bookings, search, confirm / move / cancel, visit cards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash

from scheduler.booking import Actor, local_date, to_local
from scheduler.errors import BookingError, InvalidField
from scheduler.models import STATUS_ZH, Booking, BookingEvent, Clerk, StaffUser, Status
from scheduler.settings import TZ
from scheduler.web import csrf, db_session, ot
from scheduler.web.api import utcnow
from scheduler.web.forms import (
    BOOKER_KINDS,
    FIELD_LABELS,
    REASONS,
    booking_request,
    parse_slot,
    whole_number,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")
csrf.protect(bp)


@bp.errorhandler(BookingError)
def _booking_error(err: BookingError) -> Any:
    """Errors not handled by a form re-render: a plain page with the Chinese message."""
    return render_template("error.html", status=err.status, message=err.message_zh), err.status


F = TypeVar("F", bound=Callable[..., Any])
MANAGE = ("window", "admin")
# Checked against when the user does not exist, so both paths cost one hash.
_DUMMY_HASH = "scrypt:32768:8:1$0000000000000000$" + "0" * 128


def login_required(*roles: str) -> Callable[[F], F]:
    def deco(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user_id = session.get("staff_id")
            user = db_session().get(StaffUser, user_id) if user_id else None
            if user is None or not user.active:
                return redirect(url_for("staff.login", next=request.path))
            if roles and user.role not in roles:
                abort(403)
            g.staff = user
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def _actor(channel: str = "window") -> Actor:
    user: StaffUser = g.staff
    return Actor("staff", channel, staff_id=user.id, role=user.role)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        limit, per = ot().settings.lookup_rate
        if not ot().limiter.hit(f"login:{request.remote_addr}", limit, per):
            return render_template(
                "error.html", status=429, message="登录太频繁，请稍后再试。"
            ), 429
        name = request.form.get("username", "").strip()
        # A NUL cannot even reach PostgreSQL: such a name is simply not a user.
        user = (
            db_session().scalar(select(StaffUser).where(StaffUser.username == name))
            if name.isprintable()
            else None
        )
        ok = check_password_hash(
            user.password_hash if user else _DUMMY_HASH, request.form.get("password", "")
        )
        if user is not None and user.active and ok:
            session.clear()
            session["staff_id"] = user.id
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/staff/") else url_for("staff.index"))
        error = "用户名或密码不正确。"
    return render_template("staff/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("staff.login"))


@bp.get("/")
@login_required()
def index() -> Any:
    if g.staff.role == "clerk":
        return redirect(url_for("staff.visits"))
    if g.staff.role == "dispatcher":
        return redirect(url_for("ops.plans_index"))
    svc, now = ot().service, utcnow()
    text = request.args.get("q", "").strip()
    if text:
        results = svc.search(db_session(), text)
    else:
        results = list(
            db_session().scalars(
                select(Booking)
                .where(Booking.status == Status.PENDING, Booking.date >= local_date(now))
                .order_by(Booking.date, Booking.half_day, Booking.id)
                .limit(100)
            )
        )
    return render_template(
        "staff/index.html",
        q=text,
        results=[svc.to_dict(b, now) | {"id_masked": b.id_masked} for b in results],
    )


@bp.route("/book", methods=["GET", "POST"])
@login_required(*MANAGE)
def book() -> Any:
    svc = ot().service
    items = svc.catalog.home_visit_items()
    ctx: dict[str, Any] = {
        "items": items,
        "townships": list(svc.catalog.townships.values()),
        "reasons": REASONS,
        "booker_kinds": BOOKER_KINDS,
        "form": request.form,
        "labels": FIELD_LABELS,
        "first_date": local_date(utcnow()).isoformat(),
        "last_date": svc.last_bookable(utcnow()).isoformat(),
    }
    if request.method == "GET":
        return render_template("staff/book.html", **ctx)
    session_, now = db_session(), utcnow()
    channel = request.form.get("channel", "phone")
    try:
        req = booking_request(request.form, request.form.get("item", ""))
        booking = svc.create(
            session_,
            req,
            now=now,
            actor=_actor(channel if channel in ("phone", "window") else "phone"),
        )
        session_.commit()
    except BookingError as err:
        session_.rollback()
        return render_template("staff/book.html", error=err, **ctx), err.status
    return redirect(url_for("staff.detail", reference=booking.reference, created=1))


def _booking(reference: str) -> Booking:
    try:
        return ot().service.by_reference(db_session(), reference)
    except BookingError:
        abort(404)


@bp.get("/bookings/<reference>")
@login_required(*MANAGE)
def detail(reference: str) -> Any:
    return _detail_page(reference)


def _detail_page(reference: str, error: BookingError | None = None, status: int = 200) -> Any:
    svc, now = ot().service, utcnow()
    b = _booking(reference)
    events = db_session().scalars(
        select(BookingEvent).where(BookingEvent.booking_id == b.id).order_by(BookingEvent.id)
    )
    staff_names = dict(db_session().execute(select(StaffUser.id, StaffUser.name)).all())
    clerks = list(db_session().scalars(select(Clerk).where(Clerk.active).order_by(Clerk.id)))
    slots = svc.slots(db_session(), b.town_code, now, staff=True)
    view = svc.to_dict(b, now) | {
        "id_masked": b.id_masked,
        "age_band": b.age_band,
        "reason": dict(REASONS).get(b.reason, b.reason),
        "disability_grade": b.disability_grade,
        "booker_kind": dict(BOOKER_KINDS).get(b.booker_kind, b.booker_kind),
        "booker_name": b.booker_name_masked,
        "booker_relationship": b.booker_relationship,
        "booker_phone": b.booker_phone_masked,
        "village": b.village,
        "channel": b.channel,
    }
    return (
        render_template(
            "staff/booking.html",
            b=view,
            events=[
                {
                    "at": to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                    "action": e.action,
                    "who": staff_names.get(e.actor_staff_id, "")
                    if e.actor_staff_id
                    else {"resident": "居民", "system": "系统"}.get(e.actor_kind, e.actor_kind),
                    "channel": e.channel,
                    "from": STATUS_ZH.get(Status(e.from_status), "") if e.from_status else "",
                    "to": STATUS_ZH[Status(e.to_status)],
                    "detail": e.detail,
                }
                for e in events
            ],
            clerks=clerks,
            slots=slots,
            error=error,
            created=request.args.get("created"),
        ),
        status,
    )


@bp.post("/bookings/<reference>/<action>")
@login_required()
def act(reference: str, action: str) -> Any:
    svc, session_, now = ot().service, db_session(), utcnow()
    b = _booking(reference)
    role = g.staff.role
    try:
        if action in ("done", "missed"):
            if role == "clerk" and b.assigned_clerk_id != g.staff.clerk_id:
                abort(403)
            svc.finish(session_, b, Status(action), now=now, actor=_actor("visit"))
        elif role not in MANAGE:
            abort(403)
        elif action == "confirm":
            svc.confirm(session_, b, now=now, actor=_actor())
        elif action == "cancel":
            svc.cancel(session_, b, now=now, actor=_actor())
        elif action == "move":
            day, half = parse_slot(request.form.get("slot", ""))
            svc.move(
                session_,
                b,
                day,
                half,
                now=now,
                actor=_actor(),
            )
        elif action == "schedule":
            start, end = _window(b, request.form.get("start", ""), request.form.get("end", ""))
            clerk = whole_number(request.form.get("clerk_id", ""))
            if clerk is None or db_session().get(Clerk, clerk) is None:
                raise InvalidField("请选择上门人员。", field="clerk_id")
            svc.schedule(session_, b, clerk_id=clerk, start=start, end=end, now=now, actor=_actor())
        else:
            abort(404)
        session_.commit()
    except BookingError as err:
        session_.rollback()
        if role == "clerk":
            return render_template(
                "error.html", status=err.status, message=err.message_zh
            ), err.status
        return _detail_page(reference, err, err.status)
    if role == "clerk":
        return redirect(url_for("staff.visits"))
    return redirect(url_for("staff.detail", reference=b.reference))


def _window(b: Booking, start: str, end: str) -> tuple[datetime, datetime]:
    try:
        s, e = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise InvalidField("请填写上门时间（时:分）。", field="window") from None
    return datetime.combine(b.date, s, tzinfo=TZ), datetime.combine(b.date, e, tzinfo=TZ)


@bp.get("/visits")
@login_required("clerk", "admin")
def visits() -> Any:
    """A clerk's visit cards: the only page that shows a resident's phone and address."""
    svc, now = ot().service, utcnow()
    clerk_id = g.staff.clerk_id
    chosen = whole_number(request.args.get("clerk", ""))
    if g.staff.role == "admin" and chosen is not None:
        clerk_id = chosen
    today = local_date(now)
    rows = db_session().scalars(
        select(Booking)
        .where(
            Booking.assigned_clerk_id == clerk_id,
            Booking.status == Status.SCHEDULED,
            Booking.date >= today,
            Booking.date <= today + timedelta(days=7),
        )
        .order_by(Booking.window_start)
    )
    p = svc.protector
    # Only the assigned clerk sees names, phones and streets in full (an admin looking at
    # another clerk's day sees the masked forms).
    own = clerk_id is not None and clerk_id == g.staff.clerk_id
    cards = []
    for b in rows:
        view = svc.to_dict(b, now)
        view.update(
            name=p.decrypt(b.applicant_name_enc, field="applicant_name_enc")
            if own
            else b.applicant_name_masked,
            phone_full=p.decrypt(b.phone_enc, field="phone_enc") if own else b.phone_masked,
            booker_phone_full=(
                p.decrypt(b.booker_phone_enc, field="booker_phone_enc")
                if own
                else b.booker_phone_masked
            )
            if b.booker_phone_enc
            else None,
            booker_relationship=b.booker_relationship,
            village=b.village,
            detail=p.decrypt(b.address_detail_enc, field="address_detail_enc") if own else "",
            reason=dict(REASONS).get(b.reason, b.reason),
        )
        cards.append(view)
    return render_template("staff/visits.html", cards=cards)
