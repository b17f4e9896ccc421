"""The resident's delivery look-up: reference + phone suffix, with the booking lock-out."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from scheduler import identity
from scheduler.courier.audit import utc_naive
from scheduler.courier.delivery import RETURN_FIX_ZH, RETURN_REASONS_ZH
from scheduler.courier.errors import LookupLocked, NotFound
from scheduler.courier.models import Certificate, CertStatus, Parcel, ReturnReason

_NOT_FOUND = "没有找到该寄递记录，请核对查询号和手机号后四位。"


class WrongDeliverySuffix(NotFound):
    """A wrong phone suffix: looks like an unknown reference; the caller counts it with
    `count_failed_lookup` and commits before answering."""

    def __init__(self, certificate_id: int) -> None:
        super().__init__(_NOT_FOUND)
        self.certificate_id = certificate_id


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    reference: str
    cert_type: str
    state: str  # 待寄出 | 已寄出 | 已签收 | 退回
    text: str  # e.g. 已寄出（运单号 EA123456789CN）
    tracking_no: str | None
    return_fix: str | None


def lookup_delivery(
    session: Session,
    reference: str,
    phone_last4: str,
    *,
    now: datetime,
    failures_allowed: int = 5,
    lockout_minutes: int = 15,
) -> DeliveryStatus:
    ref = identity.normalize_reference(reference)
    cert = session.scalar(select(Certificate).where(Certificate.reference == ref)) if ref else None
    expected = cert.phone_masked[-4:] if cert is not None else "0000"
    right = hmac.compare_digest(expected.encode(), phone_last4.strip().encode())
    if cert is None:
        raise NotFound(_NOT_FOUND)
    last = cert.lookup_failed_at
    if (
        last is not None
        and cert.lookup_failures >= failures_allowed
        and last > utc_naive(now) - timedelta(minutes=lockout_minutes)
    ):
        raise LookupLocked(
            f"手机号后四位已输错多次，{lockout_minutes}分钟内暂停查询；如需帮助请拨打12345。"
        )
    if not right:
        raise WrongDeliverySuffix(cert.id)
    parcel = session.scalar(
        select(Parcel).where(Parcel.certificate_id == cert.id).order_by(Parcel.id.desc())
    )
    tracking = parcel.tracking_no if parcel is not None else None
    if cert.status == CertStatus.DELIVERED:
        state, text, fix = "已签收", "已签收", None
    elif cert.status == CertStatus.DISPATCHED:
        state = "已寄出"
        text = f"已寄出（运单号 {tracking}）" if tracking else "已寄出"
        fix = None
    elif cert.return_reason:
        why = ReturnReason(cert.return_reason)
        state, text, fix = "退回", f"退回（{RETURN_REASONS_ZH[why]}）", RETURN_FIX_ZH[why]
        tracking = None
    else:
        state, text, fix, tracking = "待寄出", "待寄出", None, None
    return DeliveryStatus(cert.reference, cert.cert_type, state, text, tracking, fix)


def count_failed_lookup(
    session: Session, certificate_id: int, *, now: datetime, lockout_minutes: int = 15
) -> None:
    stamp = utc_naive(now)
    since = stamp - timedelta(minutes=lockout_minutes)
    c = Certificate
    session.execute(
        update(Certificate)
        .where(c.id == certificate_id)
        .values(
            lookup_failures=case(
                (or_(c.lookup_failed_at.is_(None), c.lookup_failed_at <= since), 1),
                else_=c.lookup_failures + 1,
            ),
            lookup_failed_at=stamp,
        )
        .execution_options(synchronize_session="fetch")
    )
