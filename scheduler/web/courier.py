"""Courier pages: window staff mark cases finished (form or CSV); dispatchers run cut-offs,
review batches (route or hand-over list), print manifests, record tracking numbers,
dispatch, and mark parcels delivered or returned."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import workdays
from scheduler.courier import delivery, intake, manifest, risk, tokens
from scheduler.courier.audit import Actor
from scheduler.courier.cutoff import CutoffConflict, run_cutoff
from scheduler.courier.errors import CourierError, CsvImportError, NotFound
from scheduler.courier.lookup import (
    DeliveryStatus,
    WrongDeliverySuffix,
    count_failed_lookup,
    lookup_delivery,
)
from scheduler.courier.models import (
    Batch,
    BatchKind,
    Certificate,
    CertStatus,
    CourierEvent,
    Parcel,
    Validity,
)
from scheduler.courier.settings import CourierSettings, Workdays
from scheduler.protect import Protector
from scheduler.settings import TZ
from scheduler.web import board, csrf, db_session, ot
from scheduler.web.auth import login_required
from scheduler.web.clock import utcnow
from scheduler.web.forms import staff_day, whole_number

log = logging.getLogger(__name__)
bp = Blueprint("courier", __name__, url_prefix="/staff/courier")
csrf.protect(bp)

DISPATCH = ("dispatcher", "admin")
WINDOW = ("window", "admin")
STATUS_ZH = {
    CertStatus.READY: "待寄出",
    CertStatus.BATCHED: "待寄出（已编批）",
    CertStatus.DISPATCHED: "已寄出",
    CertStatus.DELIVERED: "已签收",
}
BATCH_STATUS_ZH = {"open": "待发出", "dispatched": "已发出", "closed": "已完成"}
PARCEL_STATUS_ZH = {"in_batch": "在途/待发", "delivered": "已签收", "returned": "已退回"}
VALIDITY_ZH = {Validity.VALID: "有效", Validity.REVOKED: "已作废", Validity.REPLACED: "已被替换"}


@bp.app_context_processor
def _menu_roles() -> dict[str, object]:
    """Who sees the courier links in the staff menu (staff/_nav.html)."""
    return {"courier_dispatch_roles": DISPATCH, "courier_window_roles": WINDOW}


@dataclass(frozen=True)
class CourierState:
    settings: CourierSettings
    calendar: Workdays
    protector: Protector
    catalog: Any


def state() -> CourierState:
    """Courier settings (`COURIER` in the app config) and the booking side's catalog/keys."""
    found: CourierState | None = current_app.extensions.get("courier")
    if found is None:
        svc = ot().service
        found = CourierState(
            CourierSettings.from_mapping(current_app.config.get("COURIER")),
            current_app.config.get("COURIER_CALENDAR")
            or workdays.load(current_app.config.get("WORKDAYS_FILE") or workdays.COUNTY_FILE),
            svc.protector,
            svc.catalog,
        )
        current_app.extensions["courier"] = found
    return found


def resident_delivery(session: Session, reference: str, phone_last4: str) -> DeliveryStatus:
    """A resident's delivery look-up (reference + phone suffix) under booking's lock-out
    settings; a wrong suffix is counted against the certificate and committed in its own
    session before the error goes out."""
    settings, now = ot().settings, utcnow()
    try:
        return lookup_delivery(
            session,
            reference,
            phone_last4,
            now=now,
            failures_allowed=settings.lookup_failures_allowed,
            lockout_minutes=settings.lookup_lockout_minutes,
        )
    except WrongDeliverySuffix as err:
        # On SQLite the request's write session holds the writer lock the count needs.
        session.rollback()
        with ot().write_session() as counting:
            count_failed_lookup(
                counting,
                err.certificate_id,
                now=now,
                lockout_minutes=settings.lookup_lockout_minutes,
            )
            counting.commit()
        raise


def _actor(channel: str) -> Actor:
    return Actor("staff", channel, g.staff.id)


@bp.errorhandler(CourierError)
def _courier_error(err: CourierError) -> Any:
    return render_template("error.html", status=err.status, message=err.message_zh), err.status


def _local(stored: datetime | None) -> str:
    if stored is None:
        return ""
    return stored.replace(tzinfo=UTC).astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _batch_view(b: Batch, parcels: int) -> dict[str, Any]:
    return {
        "id": b.id,
        "code": manifest.batch_code(b),
        "kind": "县内派送" if b.kind == BatchKind.RUN else "EMS交接",
        "zone": b.zone_code or "",
        "status": BATCH_STATUS_ZH.get(b.status, b.status),
        "parcels": parcels,
        "km": round(b.distance_m / 1000, 1),
        "hours": round(b.duration_s / 3600, 1),
        "over": b.over_duration,
        "cutoff": _local(b.cutoff_at),
    }


# -- dispatcher ----------------------------------------------------------------------


@bp.get("/")
@login_required(*DISPATCH)
def index() -> Any:
    st, s, now = state(), db_session(), utcnow()
    waiting = list(
        s.scalars(
            select(Certificate)
            .where(Certificate.status == CertStatus.READY)
            .order_by(Certificate.promised_date, Certificate.id)
            .limit(500)
        )
    )
    flagged = [
        c
        for c in waiting
        if risk.at_risk(c, None, now=now, settings=st.settings, calendar=st.calendar)
    ]
    on_way = s.execute(
        select(Certificate, Batch)
        .join(Parcel, (Parcel.certificate_id == Certificate.id) & Parcel.is_open)
        .join(Batch, Batch.id == Parcel.batch_id)
        .where(Certificate.status.in_((CertStatus.BATCHED, CertStatus.DISPATCHED)))
        .order_by(Certificate.promised_date, Certificate.id)
        .limit(500)
    ).all()
    flagged += [
        c
        for c, b in on_way
        if risk.at_risk(c, b, now=now, settings=st.settings, calendar=st.calendar)
    ]
    counts = dict(s.execute(select(Parcel.batch_id, func.count()).group_by(Parcel.batch_id)).all())
    batches = list(s.scalars(select(Batch).order_by(Batch.id.desc()).limit(50)))
    office = st.settings.depot_office
    return render_template(
        "courier/index.html",
        ready=len(waiting),
        ready_county=sum(1 for c in waiting if c.scope == "county"),
        flagged=[_cert_row(c) for c in flagged],
        batches=[_batch_view(b, counts.get(b.id, 0)) for b in batches],
        office=office,
        offices=sorted({st.settings.dispatch_office(o) for o in st.catalog.offices}),
        times=[t.strftime("%H:%M") for t in st.settings.cutoffs_for(office)],
        today=now.astimezone(TZ).date().isoformat(),
    )


def _cert_row(c: Certificate) -> dict[str, Any]:
    return {
        "reference": c.reference,
        "case_no": c.case_no,
        "type": c.cert_type,
        "holder": c.holder_name_masked,
        "phone": c.phone_masked,
        "promised": c.promised_date.isoformat(),
        "scope": "县内" if c.scope == "county" else "县外",
        "return_reason": delivery.RETURN_REASONS_ZH.get(c.return_reason, "")  # type: ignore[call-overload]
        if c.return_reason
        else "",
    }


@bp.post("/cutoff")
@login_required(*DISPATCH)
def cutoff() -> Any:
    st, s, now = state(), db_session(), utcnow()
    office = request.form.get("office", st.settings.depot_office)
    day = staff_day(request.form.get("date", ""))
    try:
        at: time | None = time.fromisoformat(request.form.get("time", ""))
    except ValueError:
        at = None
    if day is None or at is None:
        return render_template("error.html", status=422, message="请填写截单日期和时间。"), 422
    if office not in st.catalog.offices:
        abort(404)
    moment = datetime.combine(day, at, tzinfo=TZ)
    if moment > now:
        return render_template("error.html", status=409, message="截单时间还没到。"), 409
    try:
        result = run_cutoff(s, office, moment, now, catalog=st.catalog, settings=st.settings)
        s.commit()
    except (CutoffConflict, IntegrityError):
        # Certificates changed meanwhile, or another run of this cut-off saved first.
        s.rollback()
        return render_template(
            "error.html",
            status=409,
            message="编批期间有证照状态变化或另一次截单已完成，请刷新后查看。",
        ), 409
    return redirect(url_for("courier.index", done=result.key))


def _batch(batch_id: int) -> Batch:
    b: Batch | None = db_session().get(Batch, batch_id)
    if b is None:
        abort(404)
    return b


@bp.get("/batches/<int:batch_id>")
@login_required(*DISPATCH)
def batch(batch_id: int) -> Any:
    b, s = _batch(batch_id), db_session()
    rows = s.execute(
        select(Parcel, Certificate)
        .join(Certificate, Certificate.id == Parcel.certificate_id)
        .where(Parcel.batch_id == b.id)
        .order_by(Parcel.seq)
    )
    st = state()
    parcels = []
    for p, c in rows:
        where = (
            st.catalog.townships[c.town_code].name
            if c.scope == "county" and c.town_code
            else f"{c.province}{c.city}{c.district}"
        )
        parcels.append(
            {
                "id": p.id,
                "seq": p.seq,
                "stop": p.stop_no,
                "case_no": c.case_no,
                "recipient": c.recipient_name_masked,
                "phone": c.phone_masked,
                "where": where,
                "tracking": p.tracking_no or "",
                "status": PARCEL_STATUS_ZH.get(p.status, p.status),
                "open": p.is_open,
            }
        )
    stops = json.loads(b.route_json)
    return render_template(
        "courier/batch.html",
        b=_batch_view(b, len(parcels)),
        raw_status=b.status,
        parcels=parcels,
        stops=stops,
        names={
            **{k: t.name for k, t in st.catalog.townships.items()},
            **{k: o.name for k, o in st.catalog.offices.items()},
        },
        route_map=_route_map(st, stops),
        reasons=delivery.RETURN_REASONS_ZH,
    )


def _route_map(st: CourierState, stops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run on the same map as the route plans (county outline, township points)."""
    if not stops:
        return None
    from scheduler.courier.cutoff import office_point

    depot = office_point(st.catalog, st.settings.depot_office)
    return board.draw_run(list(st.catalog.townships.values()), (depot.lat, depot.lon), stops)


@bp.get("/batches/<int:batch_id>/manifest")
@login_required(*DISPATCH)
def manifest_html(batch_id: int) -> Any:
    b, st = _batch(batch_id), state()
    rows = manifest.labels(db_session(), st.catalog, st.protector, b)
    return render_template(
        "courier/manifest.html",
        b=_batch_view(b, len(rows)),
        ems=b.kind == BatchKind.EMS,
        labels=[(r, manifest.qr_svg(r.qr_payload)) for r in rows],
    )


@bp.get("/batches/<int:batch_id>/manifest.csv")
@login_required(*DISPATCH)
def manifest_csv(batch_id: int) -> Any:
    b, st = _batch(batch_id), state()
    body = manifest.manifest_csv(manifest.labels(db_session(), st.catalog, st.protector, b))
    name = f"{manifest.batch_code(b)}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/batches/<int:batch_id>/dispatch")
@login_required(*DISPATCH)
def dispatch(batch_id: int) -> Any:
    b, s = _batch(batch_id), db_session()
    delivery.dispatch(s, b, now=utcnow(), actor=_actor("dispatch"))
    s.commit()
    return redirect(url_for("courier.batch", batch_id=b.id))


@bp.post("/batches/<int:batch_id>/tracking")
@login_required(*DISPATCH)
def tracking_column(batch_id: int) -> Any:
    b, s = _batch(batch_id), db_session()
    delivery.set_tracking_column(
        s, b, request.form.get("numbers", ""), now=utcnow(), actor=_actor("dispatch")
    )
    s.commit()
    return redirect(url_for("courier.batch", batch_id=b.id))


def _parcel(parcel_id: int) -> Parcel:
    p: Parcel | None = db_session().get(Parcel, parcel_id)
    if p is None:
        abort(404)
    return p


@bp.post("/parcels/<int:parcel_id>/<action>")
@login_required(*DISPATCH)
def parcel_action(parcel_id: int, action: str) -> Any:
    p, s, now = _parcel(parcel_id), db_session(), utcnow()
    actor = _actor("dispatch")
    if action == "tracking":
        delivery.set_tracking(s, p, request.form.get("tracking_no", ""), now=now, actor=actor)
    elif action == "delivered":
        delivery.delivered(s, p, now=now, actor=actor)
    elif action == "returned":
        delivery.returned(s, p, request.form.get("reason", ""), now=now, actor=actor)
    else:
        abort(404)
    s.commit()
    return redirect(url_for("courier.batch", batch_id=p.batch_id))


# -- window staff --------------------------------------------------------------------


def _finish_request(form: Any) -> intake.FinishRequest:
    raw_date = form.get("promised_date", "")
    promised = staff_day(raw_date) if raw_date else None
    parcels = whole_number(form.get("parcels", "1"))
    return intake.FinishRequest(
        case_no=form.get("case_no", ""),
        item_code=form.get("item_code", ""),
        holder=form.get("holder", ""),
        recipient=form.get("recipient", ""),
        phone=form.get("phone", ""),
        scope=form.get("scope", ""),
        town_code=form.get("town_code", ""),
        province=form.get("province", ""),
        city=form.get("city", ""),
        district=form.get("district", ""),
        detail=form.get("detail", ""),
        promised_date=promised,
        office_code=form.get("office_code", ""),
        contents=form.get("contents", "证照"),
        parcels=parcels or 0,
        replaces=form.get("replaces", ""),
    )


def _finish_ctx() -> dict[str, Any]:
    st = state()
    return {
        "items": [
            i
            for i in st.catalog.items.values()
            if getattr(i, "courier_supported", False) and getattr(i, "mail_result", False)
        ],
        "townships": list(st.catalog.townships.values()),
        "offices": list(st.catalog.offices.values()),
        "form": request.form,
        "labels": intake.FIELD_LABELS,
    }


@bp.route("/finish", methods=["GET", "POST"])
@login_required(*WINDOW)
def finish() -> Any:
    if request.method == "GET":
        return render_template("courier/finish.html", **_finish_ctx())
    st, s = state(), db_session()
    try:
        cert = intake.mark_finished(
            s,
            st.catalog,
            st.protector,
            _finish_request(request.form),
            now=utcnow(),
            actor=_actor("window"),
        )
        s.commit()
    except CourierError as err:
        s.rollback()
        return render_template("courier/finish.html", error=err, **_finish_ctx()), err.status
    return redirect(url_for("courier.certificate", reference=cert.reference))


@bp.route("/import", methods=["GET", "POST"])
@login_required(*WINDOW)
def import_csv() -> Any:
    if request.method == "GET":
        return render_template("courier/import.html", columns=list(intake.CSV_COLUMNS))
    st, s = state(), db_session()
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    try:
        certs = intake.import_csv(
            s, st.catalog, st.protector, data, now=utcnow(), actor=_actor("import")
        )
        s.commit()
    except CsvImportError as err:
        s.rollback()
        return render_template(
            "courier/import.html", columns=list(intake.CSV_COLUMNS), error=err
        ), err.status
    return render_template(
        "courier/import.html", columns=list(intake.CSV_COLUMNS), imported=len(certs)
    )


def _certificate(reference: str) -> Certificate:
    c: Certificate | None = db_session().scalar(
        select(Certificate).where(Certificate.reference == reference)
    )
    if c is None:
        raise NotFound("没有找到该证照。")
    return c


@bp.get("/certificates/<reference>")
@login_required("window", "dispatcher", "admin")
def certificate(reference: str) -> Any:
    st, s, now = state(), db_session(), utcnow()
    c = _certificate(reference)
    try:
        token = tokens.token_for(s, st.protector, c, now=now)
        s.commit()  # the first token of a fresh install makes the signing key
        url = request.host_url.rstrip("/") + url_for("verify.page", token=token)
        qr = manifest.qr_svg(url, scale=3)
    except tokens.SigningKeyUnreadable as err:
        log.warning("courier signing key %s cannot be decrypted", err.kid)
        qr = ""
    events = s.scalars(
        select(CourierEvent).where(CourierEvent.certificate_id == c.id).order_by(CourierEvent.id)
    )
    office = st.catalog.offices.get(c.office_code)
    return render_template(
        "courier/certificate.html",
        c=_cert_row(c)
        | {
            "status": STATUS_ZH.get(CertStatus(c.status), c.status),
            "validity": VALIDITY_ZH[Validity(c.validity)],
            "office": office.name if office else c.office_code,
            "issued": c.issued_on.isoformat(),
            "valid": c.validity == Validity.VALID,
        },
        qr=qr,
        events=[
            {
                "at": _local(e.at),
                "action": e.action,
                "from": e.from_status or "",
                "to": e.to_status,
                "channel": e.channel,
            }
            for e in events
        ],
    )


@bp.post("/certificates/<reference>/revoke")
@login_required(*WINDOW)
def revoke(reference: str) -> Any:
    s = db_session()
    c = _certificate(reference)
    intake.set_validity(
        s,
        c,
        Validity.REVOKED,
        now=utcnow(),
        actor=_actor("window"),
        reason=request.form.get("reason", "")[:100],
    )
    s.commit()
    return redirect(url_for("courier.certificate", reference=c.reference))
