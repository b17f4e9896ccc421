"""Retention (PIPL Arts. 19 and 47): a certificate's delivery data is kept only while the
delivery needs it.

What delivery needed — the holder's and recipient's names, the phone, the street detail —
is erased some days after the parcel is signed for (or after a certificate that will never
leave its office was revoked or replaced). What the certificate's verification needs for
as long as the certificate is valid stays: the verification id, item, issue date, office,
validity and the holder's masked name, which its signed QR token carries anyway. Batches,
parcels and the audit trail hold no personal data and stay.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from scheduler.courier.audit import SYSTEM_JOB, record, utc_naive
from scheduler.courier.models import Certificate, CertStatus, Validity

PURGED = "已删除"


def purge_delivered(session: Session, *, now: datetime, older_than_days: int) -> int:
    """Erase the delivery data of certificates delivered — or revoked or replaced while
    waiting at their office — more than N days ago; the number erased."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    limit = utc_naive(now) - timedelta(days=older_than_days)
    rows = session.scalars(
        select(Certificate).where(
            or_(
                Certificate.status == CertStatus.DELIVERED,
                and_(
                    Certificate.status == CertStatus.READY,
                    Certificate.validity != Validity.VALID,
                ),
            ),
            Certificate.updated_at < limit,
            Certificate.phone_masked != PURGED,
        )
    ).all()
    for cert in rows:
        cert.holder_name_enc = cert.recipient_name_enc = cert.phone_enc = ""
        cert.address_detail_enc = ""
        cert.recipient_name_masked = cert.phone_masked = PURGED
        cert.updated_at = utc_naive(now)
        record(
            session,
            now=now,
            actor=SYSTEM_JOB,
            action="purged",
            from_status=cert.status,
            to_status=cert.status,
            certificate_id=cert.id,
            detail=f"delivery data erased after {older_than_days} days",
        )
    session.flush()
    return len(rows)
