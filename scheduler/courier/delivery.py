"""After the cut-off: dispatch a batch, record tracking numbers, delivered or returned.

A dispatched batch's membership is fixed (a late certificate waits for the next cut-off);
a tracking number, once recorded for a dispatched batch, is not changed. A returned
parcel sends its certificate back to `ready` with the reason, and the resident is told
how to fix it.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.courier import audit
from scheduler.courier.audit import Actor, utc_naive
from scheduler.courier.errors import Conflict, InvalidField
from scheduler.courier.models import (
    Batch,
    BatchStatus,
    Certificate,
    CertStatus,
    CourierNotice,
    Parcel,
    ParcelStatus,
    ReturnReason,
)

TRACKING = re.compile(r"^[A-Z0-9]{8,30}$", re.ASCII)
RETURN_REASONS_ZH = {
    ReturnReason.WRONG_ADDRESS: "地址有误",
    ReturnReason.NOBODY_HOME: "三次无人签收",
    ReturnReason.REFUSED: "拒收",
}
RETURN_FIX_ZH = {
    ReturnReason.WRONG_ADDRESS: "请拨打12345或到原办理窗口核对收件地址，核对后下一批次重新寄出。",
    ReturnReason.NOBODY_HOME: "请告知方便签收的时间或改为代收地址，也可到原办理窗口领取。",
    ReturnReason.REFUSED: "证照已退回原办理窗口，如需重新寄送请拨打12345说明。",
}


def parcels_of(session: Session, batch: Batch) -> list[Parcel]:
    return list(
        session.scalars(select(Parcel).where(Parcel.batch_id == batch.id).order_by(Parcel.seq))
    )


def _notice(
    session: Session, cert: Certificate, kind: str, event: str, body: str, now: datetime
) -> None:
    """Queue a notice for the resident (sent by the scheduler's outbox job, once per event)."""
    key = f"{kind}:{cert.id}:{event}"
    if session.scalar(select(CourierNotice.id).where(CourierNotice.event_key == key)) is not None:
        return
    at = utc_naive(now)
    session.add(
        CourierNotice(
            event_key=key,
            certificate_id=cert.id,
            kind=kind,
            body=body,
            created_at=at,
            status="pending",
            attempts=0,
            next_attempt_at=at,
            last_error="",
        )
    )


def dispatch(session: Session, batch: Batch, *, now: datetime, actor: Actor) -> None:
    """The batch leaves: its certificates are on their way and residents are told."""
    if batch.status != BatchStatus.OPEN:
        raise Conflict("该批次已发出，不能再次发出或修改")
    batch.status = BatchStatus.DISPATCHED
    batch.dispatched_at = utc_naive(now)
    batch.dispatched_by_staff_id = actor.staff_id
    audit.record(
        session,
        now=now,
        actor=actor,
        action="dispatched",
        from_status=BatchStatus.OPEN,
        to_status=BatchStatus.DISPATCHED,
        batch_id=batch.id,
    )
    for parcel in parcels_of(session, batch):
        cert = session.get_one(Certificate, parcel.certificate_id)
        cert.status = CertStatus.DISPATCHED
        cert.updated_at = utc_naive(now)
        audit.record(
            session,
            now=now,
            actor=actor,
            action="dispatched",
            from_status=CertStatus.BATCHED,
            to_status=CertStatus.DISPATCHED,
            certificate_id=cert.id,
            batch_id=batch.id,
        )
        number = f"，运单号 {parcel.tracking_no}" if parcel.tracking_no else ""
        _notice(
            session,
            cert,
            "dispatched",
            str(batch.id),
            f"您的{cert.cert_type}（查询号 {cert.reference}）已寄出{number}，请留意签收。",
            now,
        )


def set_tracking(
    session: Session, parcel: Parcel, number: str, *, now: datetime, actor: Actor
) -> None:
    number = number.strip().upper()
    if not TRACKING.match(number):
        raise InvalidField("运单号应为8—30位大写字母或数字", field="tracking_no")
    batch = session.get_one(Batch, parcel.batch_id)
    if not parcel.is_open:
        raise Conflict("该件已签收或退回，不能修改运单号", field="tracking_no")
    if batch.status != BatchStatus.OPEN and parcel.tracking_no and parcel.tracking_no != number:
        raise Conflict("批次已发出，已登记的运单号不能修改", field="tracking_no")
    taken = session.scalar(
        select(Parcel.id).where(Parcel.tracking_no == number, Parcel.id != parcel.id)
    )
    if taken is not None:
        raise Conflict(f"运单号 {number} 已用于其他邮件", field="tracking_no")
    if parcel.tracking_no == number:
        return
    parcel.tracking_no = number
    audit.record(
        session,
        now=now,
        actor=actor,
        action="tracking",
        to_status=parcel.status,
        from_status=parcel.status,
        certificate_id=parcel.certificate_id,
        batch_id=batch.id,
        detail=f"parcel {parcel.seq}",
    )


def set_tracking_column(
    session: Session, batch: Batch, pasted: str, *, now: datetime, actor: Actor
) -> int:
    """A pasted column: line n is the number of label n; blank lines leave a label as it is.
    Every line is checked before anything is recorded. Returns how many were recorded."""
    lines = pasted.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
    parcels = parcels_of(session, batch)
    if len(lines) > len(parcels):
        raise InvalidField(
            f"粘贴了{len(lines)}行，但本批次只有{len(parcels)}件", field="tracking_column"
        )
    numbers = [line.strip().upper() for line in lines]
    seen: dict[str, int] = {}
    for n, number in enumerate(numbers, start=1):
        if not number:
            continue
        if not TRACKING.match(number):
            raise InvalidField(f"第{n}行运单号格式不对", field="tracking_column")
        if number in seen:
            raise InvalidField(f"第{n}行与第{seen[number]}行运单号重复", field="tracking_column")
        seen[number] = n
    count = 0
    for parcel, number in zip(parcels, numbers, strict=False):
        if number and parcel.tracking_no != number:
            set_tracking(session, parcel, number, now=now, actor=actor)
            session.flush()
            count += 1
    return count


def _close(
    session: Session, parcel: Parcel, status: ParcelStatus, now: datetime, actor: Actor
) -> Batch:
    if not parcel.is_open:
        raise Conflict("该件已签收或退回")
    batch = session.get_one(Batch, parcel.batch_id)
    if batch.status != BatchStatus.DISPATCHED:
        raise Conflict("批次尚未发出，不能登记签收或退回")
    parcel.status = status
    parcel.is_open = False
    parcel.closed_at = utc_naive(now)
    session.flush()
    still_open = session.scalar(
        select(func.count()).select_from(Parcel).where(Parcel.batch_id == batch.id, Parcel.is_open)
    )
    if not still_open:
        batch.status = BatchStatus.CLOSED
        batch.closed_at = utc_naive(now)
        audit.record(
            session,
            now=now,
            actor=actor,
            action="closed",
            from_status=BatchStatus.DISPATCHED,
            to_status=BatchStatus.CLOSED,
            batch_id=batch.id,
        )
    return batch


def delivered(session: Session, parcel: Parcel, *, now: datetime, actor: Actor) -> None:
    batch = _close(session, parcel, ParcelStatus.DELIVERED, now, actor)
    cert = session.get_one(Certificate, parcel.certificate_id)
    cert.status = CertStatus.DELIVERED
    cert.return_reason = None
    cert.updated_at = utc_naive(now)
    audit.record(
        session,
        now=now,
        actor=actor,
        action="delivered",
        from_status=CertStatus.DISPATCHED,
        to_status=CertStatus.DELIVERED,
        certificate_id=cert.id,
        batch_id=batch.id,
    )


def returned(session: Session, parcel: Parcel, reason: str, *, now: datetime, actor: Actor) -> None:
    """Back to ready (the next cut-off takes it again), with the reason and a notice."""
    try:
        why = ReturnReason(reason)
    except ValueError:
        raise InvalidField("请选择退回原因", field="reason") from None
    batch = _close(session, parcel, ParcelStatus.RETURNED, now, actor)
    parcel.return_reason = why
    cert = session.get_one(Certificate, parcel.certificate_id)
    cert.status = CertStatus.READY
    cert.return_reason = why
    cert.ready_at = utc_naive(now)
    cert.updated_at = utc_naive(now)
    audit.record(
        session,
        now=now,
        actor=actor,
        action="returned",
        from_status=CertStatus.DISPATCHED,
        to_status=CertStatus.READY,
        certificate_id=cert.id,
        batch_id=batch.id,
        detail=str(why),
    )
    _notice(
        session,
        cert,
        "returned",
        str(parcel.id),
        f"您的{cert.cert_type}（查询号 {cert.reference}）因{RETURN_REASONS_ZH[why]}被退回。"
        + RETURN_FIX_ZH[why],
        now,
    )
