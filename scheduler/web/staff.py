"""Staff pages: login, phone bookings, search, confirm / move / cancel, visit cards."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask import session as cookie

from scheduler import accounts
from scheduler.booking import Actor, audit, capacity, local_date, lookup, to_local
from scheduler.booking.audit import CALLING_ROLES
from scheduler.errors import BookingError, InvalidField
from scheduler.models import STATUS_ZH, Booking, StaffUser, Status
from scheduler.planning import service as planning
from scheduler.settings import TZ
from scheduler.web import csrf, db_session, ot
from scheduler.web.auth import log_in, log_out, login_required
from scheduler.web.clock import utcnow
from scheduler.web.forms import (
    BOOKER_KINDS,
    FIELD_LABELS,
    REASONS,
    booking_request,
    parse_slot,
    whole_number,
)
from scheduler.web.present import ACTION_ZH, CHANNEL_ZH, detail_text, reveal, to_dict
from scheduler.web.ratelimit import client_key

bp = Blueprint("staff", __name__, url_prefix="/staff")
csrf.protect(bp)
MANAGE = ("window", "dispatcher", "admin")
ROLE_ZH = {"window": "窗口", "clerk": "上门人员", "dispatcher": "调度员", "admin": "管理员"}


@bp.errorhandler(BookingError)
def _booking_error(err: BookingError) -> Any:
    """Errors not handled by a form re-render: a plain page with the Chinese message."""
    return render_template("error.html", status=err.status, message=err.message_zh), err.status


@bp.app_context_processor
def _roles() -> dict[str, object]:
    return {"role_zh": ROLE_ZH, "manage_roles": MANAGE, "min_password": accounts.MIN_PASSWORD}


def _actor(channel: str = "window") -> Actor:
    user: StaffUser = g.staff
    return Actor("staff", channel, staff_id=user.id, role=user.role)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("staff/login.html", error=None)
    state, now = ot(), utcnow()
    limit, per = state.settings.login_rate
    if not state.limiter.hit(client_key("login"), limit, per):
        return render_template("error.html", status=429, message="登录太频繁，请稍后再试。"), 429
    username, password = request.form.get("username", "").strip(), request.form.get("password", "")
    with state.read_session() as reading:  # the slow hash, outside the write transaction
        checked = accounts.check_password(reading, username, password, now=now)
    session_ = db_session()
    try:
        user = accounts.authenticate(
            session_, username, password, now=now, lockout=_lockout(), checked=checked
        )
    except accounts.LoginRefused as refused:
        session_.commit()  # the count of wrong passwords
        status = 429 if refused.locked_until is not None else 401
        return render_template("staff/login.html", error=refused.message_zh), status
    token = accounts.start_session(session_, user, now=now)
    session_.commit()
    cookie.clear()
    log_in(token, user)
    nxt = request.args.get("next", "")
    if nxt.startswith("/staff/"):
        return redirect(nxt)
    # A dispatcher starts at the board; the booking list stays one link away (MANAGE).
    home = "plans.plans_index" if user.role == "dispatcher" else "staff.index"
    return redirect(url_for(home))


@bp.post("/logout")
def logout() -> Any:
    token = log_out()
    if token is not None:
        session_ = db_session()
        accounts.end_session(session_, token, now=utcnow())
        session_.commit()
    cookie.clear()
    return redirect(url_for("staff.login"))


PASSWORD_ERRORS_ZH = {
    "mismatch": "两次输入的新密码不一致，请重新输入。",
    "weak": f"新密码至少需要{accounts.MIN_PASSWORD}个字符。",
    "wrong": "当前密码不正确。",
}


@bp.route("/password", methods=["GET", "POST"])
@login_required()
def password() -> Any:
    """The user's own password. On success every login of the account ends (other
    browsers, devices, saved cookies) and this browser gets a new one, so the user stays
    on the page logged in."""
    if request.method == "GET":
        return render_template("staff/password.html", error=None, done=False)
    form = request.form
    new = form.get("new_password", "")
    if new != form.get("new_password_again", ""):
        return _password_page(PASSWORD_ERRORS_ZH["mismatch"], 400)
    try:  # the password rule, checked before the current password costs a try
        new_hash = accounts.new_password_hash(new)
    except ValueError:
        return _password_page(PASSWORD_ERRORS_ZH["weak"], 400)
    state, now, current = ot(), utcnow(), form.get("current_password", "")
    with state.read_session() as reading:  # the slow hashes, outside the write transaction
        checked = accounts.check_password(reading, g.staff.username, current, now=now)
    session_ = db_session()
    user = session_.get(StaffUser, g.staff.id)
    if user is None:  # pragma: no cover - a logged-in user's row exists
        abort(403)
    try:
        token = accounts.change_own_password(
            session_,
            user,
            current,
            new,
            now=now,
            lockout=_lockout(),
            checked=checked,
            new_hash=new_hash,
        )
    except accounts.LoginRefused as refused:
        session_.commit()  # the count of wrong passwords
        if refused.locked_until is not None:
            return _password_page(refused.message_zh, 429)
        return _password_page(PASSWORD_ERRORS_ZH["wrong"], 401)
    session_.commit()
    cookie.clear()  # a new cookie (and CSRF token) for the new login
    log_in(token, user)
    g.staff = user
    return render_template("staff/password.html", error=None, done=True)


def _lockout() -> accounts.Lockout:
    """The per-account lock-out the settings give (login and the password page)."""
    s = ot().settings
    return accounts.Lockout(
        allowed=s.login_failures_allowed, first=timedelta(minutes=s.login_lockout_minutes)
    )


def _password_page(error: str, status: int) -> Any:
    return render_template("staff/password.html", error=error, done=False), status


@bp.get("/")
@login_required()
def index() -> Any:
    if g.staff.role == "clerk":
        return redirect(url_for("staff.visits"))
    svc, now, session_ = ot().service, utcnow(), db_session()
    text = request.args.get("q", "").strip()
    today = local_date(now)
    days = [today + timedelta(days=i) for i in range(15)]
    status_arg, day_arg = request.args.get("status", ""), request.args.get("day", "")
    status = Status(status_arg) if status_arg in {s.value for s in Status} else None
    day = next((d for d in days if d.isoformat() == day_arg), None)
    if text:
        found = lookup.search(session_, text)
    else:
        found = svc.work_list(session_, now, status=status, day=day)
    return render_template(
        "staff/index.html",
        q=text,
        status=status.value if status else "",
        day=day.isoformat() if day else "",
        days=days,
        today=today,
        statuses=[(s.value, STATUS_ZH[s]) for s in Status],
        results=[to_dict(svc, b, now) | {"id_masked": b.id_masked} for b in found],
    )


@bp.route("/book", methods=["GET", "POST"])
@login_required(*MANAGE)
def book() -> Any:
    svc = ot().service
    items = svc.catalog.home_visit_items()
    form = request.form if request.method == "POST" else request.args
    town = form.get("town_code", "")
    slots = None
    if town in svc.catalog.townships:
        # The resident's slot picker, from today on (staff may book inside the cut-off).
        item = form.get("item") or None
        found = svc.slots(db_session(), town, utcnow(), staff=True, item=item)
        slots = [s for s in found if s.remaining > 0]
    ctx: dict[str, Any] = {
        "items": items,
        "town_code": town,
        "slots": slots,
        "townships": list(svc.catalog.townships.values()),
        "reasons": REASONS,
        "booker_kinds": BOOKER_KINDS,
        "form": form,
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


def _detail_page(
    reference: str,
    error: BookingError | None = None,
    status: int = 200,
    revealed: dict[str, str] | None = None,
) -> Any:
    svc, now, session_ = ot().service, utcnow(), db_session()
    b = _booking(reference)
    events = audit.trail(session_, b.id)
    away = _absent(b.date)
    clerks = [
        c
        for c in capacity.clerks_on_shift(session_, b.zone_code, b.date, b.half_day)
        if c.id not in away
    ]
    slots = svc.slots(session_, b.town_code, now, staff=True, item=b.item_code)
    view = to_dict(svc, b, now) | {
        "id_masked": b.id_masked,
        "age_band": b.age_band,
        "reason": dict(REASONS).get(b.reason, b.reason),
        "disability_grade": b.disability_grade,
        "booker_kind": dict(BOOKER_KINDS).get(b.booker_kind, b.booker_kind),
        "booker_name": b.booker_name_masked,
        "booker_relationship": b.booker_relationship,
        "booker_phone": b.booker_phone_masked,
        "village": b.village,
        "channel": CHANNEL_ZH.get(b.channel, b.channel),
        "has_booker_phone": bool(b.booker_phone_enc),
    }
    return (
        render_template(
            "staff/booking.html",
            b=view,
            events=[
                {
                    "at": to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                    "action": ACTION_ZH.get(e.action, e.action),
                    "who": e.staff_name or ""
                    if e.actor_kind == "staff"
                    else {"resident": "居民", "system": "系统"}.get(e.actor_kind, e.actor_kind),
                    "channel": CHANNEL_ZH.get(e.channel, e.channel),
                    "from": STATUS_ZH.get(Status(e.from_status), "") if e.from_status else "",
                    "to": STATUS_ZH[Status(e.to_status)],
                    "detail": detail_text(e.action, e.detail),
                }
                for e in events
            ],
            clerks=clerks,
            slots=slots,
            error=error,
            created=request.args.get("created"),
            can_call=g.staff.role in CALLING_ROLES,
            revealed=revealed or {},
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
        elif action == "cancel" and request.form.get("confirm") != "yes":
            return _confirm_cancel(b)
        elif action == "cancel":
            svc.cancel(session_, b, now=now, actor=_actor())
        elif action == "reveal-phone":
            whose = request.form.get("whose", "applicant")
            phone = svc.reveal_phone(session_, b, whose=whose, actor=_actor(), now=now)
            session_.commit()
            return _detail_page(reference, revealed={whose: phone})
        elif action == "move":
            day, half = parse_slot(request.form.get("slot", ""))
            svc.move(session_, b, day, half, now=now, actor=_actor())
        elif action == "schedule":
            start, end = _window(b, request.form.get("start", ""), request.form.get("end", ""))
            clerk = whole_number(request.form.get("clerk_id", ""))
            if clerk is None:
                raise InvalidField("请选择上门人员。", field="clerk_id")
            if clerk in _absent(b.date):
                raise InvalidField(
                    "该上门人员当天已请假，请选择其他当班人员。",
                    field="clerk_id",
                    code="clerk_absent",
                )
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


def _confirm_cancel(b: Booking) -> Any:
    """The confirmation step of a staff cancel (a plain form: works without JavaScript)."""
    return render_template(
        "cancel_confirm.html",
        booking=to_dict(ot().service, b, utcnow()),
        action=url_for("staff.act", reference=b.reference, action="cancel"),
        keep={},
        back=url_for("staff.detail", reference=b.reference),
        back_post=None,
        staff_page=True,
    )


def _absent(day: date) -> set[int]:
    """Clerks the board marked absent (请假) for the day: their shift rows stay (the mark
    is planning's, an ``Adjustment``), but they take no visits."""
    return set(planning.absent_clerks(db_session(), day))


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
    state, now = ot(), utcnow()
    svc, p = state.service, state.protector
    clerk_id = g.staff.clerk_id
    chosen = whole_number(request.args.get("clerk", ""))
    if g.staff.role == "admin" and chosen is not None:
        clerk_id = chosen
    # Only the assigned clerk sees names, phones and streets in full (an admin looking at
    # another clerk's day sees the masked forms).
    own = clerk_id is not None and clerk_id == g.staff.clerk_id
    cards = []
    for b in lookup.visits_of(db_session(), clerk_id, now):
        view = to_dict(svc, b, now)
        view.update(
            name=reveal(p, b, "applicant_name_enc") if own else b.applicant_name_masked,
            phone_full=reveal(p, b, "phone_enc") if own else b.phone_masked,
            booker_phone_full=(reveal(p, b, "booker_phone_enc") if own else b.booker_phone_masked)
            if b.booker_phone_enc
            else None,
            booker_relationship=b.booker_relationship,
            village=b.village,
            detail=reveal(p, b, "address_detail_enc") if own else "",
            reason=dict(REASONS).get(b.reason, b.reason),
        )
        cards.append(view)
    return render_template("staff/visits.html", cards=cards)
