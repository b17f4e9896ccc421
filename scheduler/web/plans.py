"""The dispatcher's board: /staff/plans/<date> (map, timeline, figures, versions) and
its actions — move a visit, save an edit, publish, re-plan, mark a clerk absent, pin."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from sqlalchemy import select

from scheduler.errors import BookingError
from scheduler.planning import bookings as bk
from scheduler.planning import engine as eng
from scheduler.planning import service as planning
from scheduler.planning.models import Adjustment, PlanVersion, ReplanRequest
from scheduler.planning.problem import plan_to_json
from scheduler.planning.publish import PublishError, publish
from scheduler.settings import TZ
from scheduler.web import board, csrf, db_session, ot
from scheduler.web.auth import login_required
from scheduler.web.clock import utcnow
from scheduler.web.forms import page_day, whole_number

bp = Blueprint("plans", __name__, url_prefix="/staff")
csrf.protect(bp)
DISPATCH = ("dispatcher", "admin")


def _version(day: date, number: str | None) -> PlanVersion | None:
    q = select(PlanVersion).where(PlanVersion.date == day)
    version = whole_number(number or "")
    if version is not None:
        found: PlanVersion | None = db_session().scalar(q.where(PlanVersion.version == version))
        return found
    return planning.latest(db_session(), day)


def _board_context(
    day: date, v: PlanVersion, plan_data: dict[str, Any] | None = None
) -> dict[str, Any]:
    session, svc = db_session(), ot().service
    problem = json.loads(v.problem_json)
    data = plan_data or json.loads(v.plan_json)
    names = bk.clerk_names(session)
    clerk_order = [c["id"] for c in problem["clerks"]]
    ids = [int(x["id"]) for x in problem["visits"]]
    rows = {str(b.id): b for b in session.scalars(select(bk.Booking).where(bk.Booking.id.in_(ids)))}
    figs = json.loads(v.figures_json)

    def label(vid: str) -> dict[str, Any]:
        b = rows.get(vid)
        if b is None:
            return {"reference": vid, "text": vid}
        item = svc.catalog.items.get(b.item_code)
        town = svc.catalog.townships.get(b.town_code)
        return {
            "reference": b.reference,
            "text": f"{town.name if town else ''} · {item.name if item else b.item_code}",
            "half": bk.HALF_DAY_ZH[b.half_day],
            "status": bk.STATUS_ZH[bk.Status(b.status)],
            "name": b.applicant_name_masked,
        }

    windows = {x["id"]: x["windows"][0] for x in problem["visits"]}
    visits = []
    for r in data["routes"]:
        for n, s in enumerate(r["stops"], 1):
            lo, hi = windows[s[0]]
            visits.append(
                {
                    "visit_id": s[0],
                    "n": n,
                    "clerk_id": r["clerk_id"],
                    "clerk": names.get(int(r["clerk_id"]), r["clerk_id"]),
                    "colour": board.colour(clerk_order.index(r["clerk_id"])),
                    "start": planning.hhmm(s[2]),
                    "end": planning.hhmm(s[3]),
                    "window": f"{planning.hhmm(lo)}—{planning.hhmm(hi)}",
                    "bar": {
                        "lo": board.x_of(lo, 200),
                        "hi": board.x_of(hi, 200),
                        "at": board.x_of(s[2], 200),
                        "to": board.x_of(s[3], 200),
                    },
                    **label(s[0]),
                }
            )
    for u in data["unassigned"]:
        u.update(label(u["visit_id"]))
    request_row = session.scalar(
        select(ReplanRequest)
        .where(ReplanRequest.date == day, ReplanRequest.status.in_(("queued", "running")))
        .limit(1)
    )
    absent = [
        a.clerk_id
        for a in session.scalars(
            select(Adjustment).where(
                Adjustment.date == day, Adjustment.kind == "absent", Adjustment.active
            )
        )
    ]
    pins = {
        a.booking_id: a.clerk_id
        for a in session.scalars(
            select(Adjustment).where(
                Adjustment.date == day, Adjustment.kind == "pin", Adjustment.active
            )
        )
    }
    all_versions = list(
        session.scalars(
            select(PlanVersion).where(PlanVersion.date == day).order_by(PlanVersion.version)
        )
    )
    return {
        "day": day,
        "v": v,
        "versions": all_versions,
        "figs": figs,
        "names": names,
        "clerks": [
            {"id": c, "name": names.get(int(c), c), "colour": board.colour(k)}
            for k, c in enumerate(clerk_order)
        ],
        "map": board.draw_map(list(svc.catalog.townships.values()), problem, data, clerk_order),
        "timeline": board.timeline(data, problem),
        "axis": board.hours_axis(),
        "visits": visits,
        "unassigned": data["unassigned"],
        "replanning": request_row is not None,
        "absent": absent,
        "pins": pins,
        "rows": rows,
        "day_clerks": bk.clerk_days(session, day),
    }


@bp.get("/plans/")
@login_required(*DISPATCH)
def plans_index() -> Any:
    return redirect(url_for("plans.plan_board", day=_next_day().isoformat()))


def _next_day() -> date:
    from scheduler import workdays

    return workdays.load().next_working_day(utcnow().astimezone(TZ).date())


@bp.get("/plans/<day>")
@login_required(*DISPATCH)
def plan_board(day: str) -> Any:
    """The date's plan: map, timeline, visits, figures, unassigned with reasons; actions."""
    d = page_day(day)
    v = _version(d, request.args.get("v"))
    if v is None:
        return render_template(
            "ops/board_empty.html",
            day=d,
            replanning=_replanning(d),
            message=request.args.get("msg"),
        )
    ctx = _board_context(d, v)
    compare_with = request.args.get("compare")
    if compare_with:
        other = _version(d, compare_with)
        if other is not None:
            ctx["diff"] = planning.compare(other, v)
            ctx["diff_with"] = other.version
    ctx["message"] = request.args.get("msg")
    return render_template("ops/board.html", **ctx)


def _replanning(day: date) -> bool:
    return (
        db_session().scalar(
            select(ReplanRequest.id).where(
                ReplanRequest.date == day, ReplanRequest.status.in_(("queued", "running"))
            )
        )
        is not None
    )


@bp.get("/plans/<day>/status.json")
@login_required(*DISPATCH)
def plan_status(day: str) -> Any:
    d = page_day(day)
    v = planning.latest(db_session(), d)
    return {"replanning": _replanning(d), "version": v.version if v else None}


def _orders_from(plan_data: dict[str, Any]) -> dict[str, list[str]]:
    return {r["clerk_id"]: [s[0] for s in r["stops"]] for r in plan_data["routes"]}


@bp.post("/plans/<day>/move")
@login_required(*DISPATCH)
def plan_move(day: str) -> Any:
    """Move a visit to a clerk and position: times recomputed and checked, nothing saved."""
    d = page_day(day)
    v = _version(d, request.form.get("v"))
    if v is None:
        abort(404)
    problem, plan, data = planning.loaded(v)
    visit = request.form.get("visit", "")
    to = request.form.get("clerk", "")
    if visit not in problem.visit_index() or to not in problem.clerk_index():
        return render_template(
            "error.html", status=422, message="请选择要移动的上门和办事员。"
        ), 422
    empty: dict[str, list[str]] = {c.id: [] for c in problem.clerks}
    orders = empty | _orders_from(data)
    for order in orders.values():
        if visit in order:
            order.remove(visit)
    position = whole_number(request.form.get("position", ""))
    pos = position - 1 if position else len(orders[to])
    orders[to].insert(min(pos, len(orders[to])), visit)
    return _preview(d, v, problem, plan, orders)


def _preview(d: date, v: PlanVersion, problem: Any, plan: Any, orders: dict[str, list[str]]) -> Any:
    edited, violations = eng.reroute(problem, plan, orders)
    data = plan_to_json(
        edited,
        [
            u
            for u in json.loads(v.plan_json)["unassigned"]
            if u["visit_id"] not in {x for o in orders.values() for x in o}
        ],
    )
    ctx = _board_context(d, v, data)
    names = ctx["names"]
    ctx["violations"] = [
        {
            "code": x.code,
            "message": _violation_zh(x, names, ctx["rows"]),
        }
        for x in violations
    ]
    ctx["orders_json"] = json.dumps(orders)
    ctx["preview"] = True
    return render_template("ops/board.html", **ctx), 200 if not violations else 422


VIOLATION_ZH = {
    "late": "晚于时间窗",
    "window": "不在预约时段内",
    "shift": "超出班次时间",
    "skill": "办事员不具备所需技能或不在该片区当班",
    "break": "午休安排不合规",
    "break_position": "午休安排不合规",
    "break_missing": "缺少午休",
    "max_working": "超过最长工作时间",
    "max_visits": "超过最多上门次数",
    "pin": "违反指定办事员",
}


def _violation_zh(x: eng.Violation, names: dict[int, str], rows: dict[str, bk.Booking]) -> str:
    who = names.get(int(x.clerk_id), x.clerk_id) if x.clerk_id and x.clerk_id.isdigit() else ""
    what = rows[x.visit_id].reference if x.visit_id and x.visit_id in rows else ""
    text = VIOLATION_ZH.get(x.code, x.code)
    return "：".join(p for p in (who, what and f"预约 {what}", text) if p)


@bp.post("/plans/<day>/save")
@login_required(*DISPATCH)
def plan_save(day: str) -> Any:
    """Save a checked edit as the next version (refused while it breaks a rule)."""
    d = page_day(day)
    v = _version(d, request.form.get("v"))
    if v is None:
        abort(404)
    problem, plan, _ = planning.loaded(v)
    try:
        orders = {
            str(k): [str(x) for x in o]
            for k, o in json.loads(request.form.get("orders", "")).items()
        }
        edited, violations = eng.reroute(problem, plan, orders)
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
        return render_template(
            "error.html", status=422, message="调整内容无法识别，请重新操作。"
        ), 422
    if violations:
        return _preview(d, v, problem, plan, orders)
    new = planning.store_edit(
        db_session(), v, edited, catalog=ot().service.catalog, now=utcnow(), staff_id=g.staff.id
    )
    db_session().commit()
    return redirect(
        url_for(
            "plans.plan_board", day=d.isoformat(), v=new.version, msg=f"已保存为第 {new.version} 版"
        )
    )


@bp.post("/plans/<day>/publish")
@login_required(*DISPATCH)
def plan_publish(day: str) -> Any:
    d = page_day(day)
    v = _version(d, request.form.get("v"))
    if v is None:
        abort(404)
    try:
        result = publish(
            db_session(), v, ot().service, now=utcnow(), actor=bk.staff_actor(g.staff, "window")
        )
        db_session().commit()
    except (PublishError, BookingError) as err:
        db_session().rollback()
        message = err.message_zh
        return render_template("error.html", status=409, message=message), 409
    msg = (
        f"第 {v.version} 版已发布：新排 {result.scheduled} 个，调整 {result.changed} 个，"
        f"未变 {result.unchanged} 个，已通知 {result.notices} 位居民"
    )
    return redirect(url_for("plans.plan_board", day=d.isoformat(), v=v.version, msg=msg))


@bp.post("/plans/<day>/replan")
@login_required(*DISPATCH)
def plan_replan(day: str) -> Any:
    """Ask the scheduler process for a re-plan (never solved inside a web request)."""
    d = page_day(day)
    if not _replanning(d):
        db_session().add(
            ReplanRequest(
                date=d, requested_at=bk.utc_naive(utcnow()), requested_by_staff_id=g.staff.id
            )
        )
        db_session().commit()
    return redirect(
        url_for("plans.plan_board", day=d.isoformat(), msg="已提交重新排班，排班进程完成后自动刷新")
    )


@bp.post("/plans/<day>/absent")
@login_required(*DISPATCH)
def plan_absent(day: str) -> Any:
    return _adjust(day, "absent")


@bp.post("/plans/<day>/pin")
@login_required(*DISPATCH)
def plan_pin(day: str) -> Any:
    return _adjust(day, "pin")


def _adjust(day: str, kind: str) -> Any:
    d = page_day(day)
    clerk_id = whole_number(request.form.get("clerk", ""))
    booking_id = whole_number(request.form.get("visit", ""))
    session = db_session()
    if clerk_id is None or session.get(bk.Clerk, clerk_id) is None:
        return render_template("error.html", status=422, message="请选择办事员。"), 422
    if kind != "pin":
        booking_id = None
    elif booking_id is None or session.get(bk.Booking, booking_id) is None:
        return render_template("error.html", status=422, message="请选择要指定的上门。"), 422
    if booking_id is not None:
        for old in session.scalars(
            select(Adjustment).where(
                Adjustment.date == d, Adjustment.kind == "pin", Adjustment.booking_id == booking_id
            )
        ):
            old.active = False
    session.add(
        Adjustment(
            date=d,
            kind=kind,
            clerk_id=clerk_id,
            booking_id=booking_id,
            created_at=bk.utc_naive(utcnow()),
            created_by_staff_id=g.staff.id,
        )
    )
    if kind == "absent":
        # The clerk's places go: the date's slots take no more than the others can make.
        ot().service.sync_day(session, d)
    session.commit()
    msg = "已标记请假，请重新排班" if kind == "absent" else "已指定办事员，重新排班时保留"
    return redirect(url_for("plans.plan_board", day=d.isoformat(), msg=msg))
