"""Courier tables: certificates, cut-off batches and their parcels, claims, audit, notices,
signing keys. Names, phones and street detail are stored encrypted (AES-GCM) and masked."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base


class CertStatus(StrEnum):
    READY = "ready"  # finished, waiting at an office for the next cut-off
    BATCHED = "batched"  # in an open batch that has not left yet
    DISPATCHED = "dispatched"  # on its way (own courier run or EMS)
    DELIVERED = "delivered"


class Validity(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    REPLACED = "replaced"


class BatchKind(StrEnum):
    RUN = "run"  # a delivery run of the county's own courier
    EMS = "ems"  # the hand-over list EMS signs when it collects


class BatchStatus(StrEnum):
    OPEN = "open"
    DISPATCHED = "dispatched"
    CLOSED = "closed"  # every parcel delivered or returned


class ParcelStatus(StrEnum):
    IN_BATCH = "in_batch"
    DELIVERED = "delivered"
    RETURNED = "returned"


class ReturnReason(StrEnum):
    WRONG_ADDRESS = "wrong_address"
    NOBODY_HOME = "nobody_home"  # nobody home three times
    REFUSED = "refused"


SCOPES = ("county", "out")
ONE_OPEN_PARCEL_PER_CERTIFICATE = "uq_courier_parcels_open_certificate"
_OPEN_SQL = "is_open"


class Certificate(Base):
    """A finished certificate to be couriered, and the state of its verification QR."""

    __tablename__ = "courier_certificates"
    __table_args__ = (
        CheckConstraint("scope IN ('county', 'out')", name="courier_scope_known"),
        CheckConstraint("parcels >= 1", name="courier_parcels_positive"),
        Index("ix_courier_certificates_status_office", "status", "office_code"),
        Index("ix_courier_certificates_phone_masked", "phone_masked"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(8), unique=True)  # residents look up by it
    case_no: Mapped[str] = mapped_column(String(40), unique=True)  # 办件编号 of the case system
    verify_id: Mapped[str] = mapped_column(String(16), unique=True)  # public, in the QR token
    item_code: Mapped[str] = mapped_column(String(80))
    cert_type: Mapped[str] = mapped_column(String(100))
    contents: Mapped[str] = mapped_column(String(4), default="证照")  # 证照 | 材料
    parcels: Mapped[int] = mapped_column(Integer, default=1)

    holder_name_enc: Mapped[str] = mapped_column(Text)
    holder_name_masked: Mapped[str] = mapped_column(String(50))
    recipient_name_enc: Mapped[str] = mapped_column(Text)
    recipient_name_masked: Mapped[str] = mapped_column(String(50))
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_masked: Mapped[str] = mapped_column(String(11))

    scope: Mapped[str] = mapped_column(String(8))  # county | out
    town_code: Mapped[str | None] = mapped_column(String(9))
    province: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(20))
    address_detail_enc: Mapped[str] = mapped_column(Text)

    office_code: Mapped[str] = mapped_column(String(80))  # where it waits
    promised_date: Mapped[date] = mapped_column(Date)
    issued_on: Mapped[date] = mapped_column(Date)
    ready_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    status: Mapped[str] = mapped_column(String(12), default=CertStatus.READY)
    return_reason: Mapped[str | None] = mapped_column(String(20))  # the last return's
    validity: Mapped[str] = mapped_column(String(10), default=Validity.VALID)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("courier_certificates.id"))

    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    lookup_failures: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    lookup_failed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Batch(Base):
    """One delivery run or one EMS hand-over list formed at a cut-off."""

    __tablename__ = "courier_batches"
    __table_args__ = (
        UniqueConstraint("cutoff_key", "kind", "seq", name="uq_courier_batches_cutoff_seq"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    cutoff_key: Mapped[str] = mapped_column(String(80), index=True)
    office_code: Mapped[str] = mapped_column(String(80))
    cutoff_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    kind: Mapped[str] = mapped_column(String(4))
    seq: Mapped[int] = mapped_column(Integer)  # run number within the cut-off (1, 2, ...)
    zone_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.OPEN)
    distance_m: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    over_duration: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stops as JSON: township or office level only, never a street or a person.
    route_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime)
    dispatched_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Parcel(Base):
    """A certificate's place in a batch. Open until delivered or returned; a certificate
    has at most one open parcel (a unique partial index), so it is in one open batch."""

    __tablename__ = "courier_parcels"
    __table_args__ = (
        UniqueConstraint("batch_id", "seq", name="uq_courier_parcels_batch_seq"),
        Index(
            ONE_OPEN_PARCEL_PER_CERTIFICATE,
            "certificate_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("courier_batches.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("courier_certificates.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # label order in the batch, from 1
    stop_no: Mapped[int | None] = mapped_column(Integer)  # delivery stop on the run
    tracking_no: Mapped[str | None] = mapped_column(String(30), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=ParcelStatus.IN_BATCH)
    return_reason: Mapped[str | None] = mapped_column(String(20))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class CutoffClaim(Base):
    """One row per cut-off run that saved its batches (key `cutoff:<office>:<date>T<time>`);
    written in the same transaction as the batches, so a run that died saved nothing."""

    __tablename__ = "courier_cutoff_claims"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    office_code: Mapped[str] = mapped_column(String(80))
    cutoff_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    certificates: Mapped[int] = mapped_column(Integer, default=0)


class CourierEvent(Base):
    """Audit: every state change — who, through which channel, when, from → to."""

    __tablename__ = "courier_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("courier_certificates.id"), index=True
    )
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("courier_batches.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    action: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(10))  # staff | system | resident
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    channel: Mapped[str] = mapped_column(String(12))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str] = mapped_column(String(200), default="")  # never personal data


class CourierNotice(Base):
    """A message to the resident of a certificate, drained like the booking outbox.

    ``event_key`` is unique (``dispatched:<certificate>:<batch>``,
    ``returned:<certificate>:<parcel>``): one event is queued once and sent once.
    ``status`` / ``attempts`` / ``next_attempt_at`` / ``lease_until`` work as in
    ``outbox``; the phone is decrypted from the certificate only when sending.
    """

    __tablename__ = "courier_notices"
    __table_args__ = (Index("ix_courier_notices_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(120), unique=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("courier_certificates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # dispatched | returned
    body: Mapped[str] = mapped_column(Text)  # Chinese text; a reference, never a name or phone
    created_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(String(200), default="")


class SigningKey(Base):
    """An Ed25519 key for verification tokens. The newest unretired key signs; every key,
    retired or not, still verifies (and is published in /verify/keys)."""

    __tablename__ = "courier_signing_keys"
    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    private_enc: Mapped[str] = mapped_column(Text)  # raw private bytes, Protector-encrypted
    public_x: Mapped[str] = mapped_column(String(64))  # base64url raw public key (JWK "x")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
