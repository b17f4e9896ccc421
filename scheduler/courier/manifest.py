"""Manifests: one label per parcel, as rows for the HTML print view and as CSV bytes.

Everything comes from stored data (no clock, no random), so a past batch's manifest is the
same bytes every time. Labels carry the recipient's name and address (the courier needs
them), the phone masked, the tracking number if recorded, and an ASCII QR payload.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.courier.models import Batch, BatchKind, Certificate, Parcel
from scheduler.protect import Protector
from scheduler.settings import TZ

CSV_HEADER = ("序号", "办件编号", "查询号", "收件人", "手机号", "地址", "件数", "内容", "运单号")


@dataclass(frozen=True, slots=True)
class Label:
    seq: int
    stop_no: int | None
    case_no: str
    reference: str
    recipient: str
    phone_masked: str
    address: str
    parcels: int
    contents: str
    tracking_no: str
    qr_payload: str  # ASCII
    status: str


def batch_code(batch: Batch) -> str:
    """`R20260601-1030-2` (run 2) / `E20260601-1030-1` (EMS): short, ASCII, stable."""
    prefix = "R" if batch.kind == BatchKind.RUN else "E"
    local = batch.cutoff_at.replace(tzinfo=UTC).astimezone(TZ)
    return f"{prefix}{local:%Y%m%d-%H%M}-{batch.seq}"


def reveal(protector: Protector, cert: Certificate, column: str) -> str:
    """A decrypted column of a certificate; 「无法解密」 (and a log line naming the
    certificate and key id, never the value) when no data key opens it."""
    return protector.reveal(
        getattr(cert, column), field=column, owner=f"courier certificate id={cert.id}"
    )


def address_of(catalog: Any, protector: Protector, cert: Certificate) -> str:
    detail = reveal(protector, cert, "address_detail_enc")
    if cert.scope == "county":
        county = getattr(catalog.site, "county", "庆元县")
        town = catalog.townships[cert.town_code].name if cert.town_code else ""
        return f"浙江省丽水市{county}{town}{detail}"
    return f"{cert.province}{cert.city}{cert.district}{detail}"


def labels(session: Session, catalog: Any, protector: Protector, batch: Batch) -> list[Label]:
    rows = session.execute(
        select(Parcel, Certificate)
        .join(Certificate, Certificate.id == Parcel.certificate_id)
        .where(Parcel.batch_id == batch.id)
        .order_by(Parcel.seq)
    )
    code = batch_code(batch)
    return [
        Label(
            seq=p.seq,
            stop_no=p.stop_no,
            case_no=c.case_no,
            reference=c.reference,
            recipient=reveal(protector, c, "recipient_name_enc"),
            phone_masked=c.phone_masked,
            address=address_of(catalog, protector, c),
            parcels=c.parcels,
            contents=c.contents,
            tracking_no=p.tracking_no or "",
            qr_payload=f"OT1/{c.reference}/{code}/{p.seq}",
            status=p.status,
        )
        for p, c in rows
    ]


def manifest_csv(rows: list[Label]) -> bytes:
    """UTF-8 with BOM (Excel opens it as UTF-8), CRLF line ends (RFC 4180)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow(
            (
                r.seq,
                r.case_no,
                r.reference,
                r.recipient,
                r.phone_masked,
                r.address,
                r.parcels,
                r.contents,
                r.tracking_no,
            )
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def qr_svg(payload: str, scale: int = 2) -> str:
    """An inline SVG QR code (never Micro QR: `make_qr`), error correction M or better."""
    if not payload.isascii():
        raise ValueError("QR payloads must be ASCII")
    return segno.make_qr(payload, error="m").svg_inline(scale=scale)
