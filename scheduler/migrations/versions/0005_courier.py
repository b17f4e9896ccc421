"""Courier delivery: certificates, cut-off batches, parcels, claims, audit, notices, keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:00:00

Follows the operations migration 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "courier_cutoff_claims",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("office_code", sa.String(length=80), nullable=False),
        sa.Column("cutoff_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "courier_signing_keys",
        sa.Column("kid", sa.String(length=40), nullable=False),
        sa.Column("private_enc", sa.Text(), nullable=False),
        sa.Column("public_x", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "courier_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cutoff_key", sa.String(length=80), nullable=False),
        sa.Column("office_code", sa.String(length=80), nullable=False),
        sa.Column("cutoff_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("over_duration", sa.Boolean(), nullable=False),
        sa.Column("route_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("dispatched_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispatched_by_staff_id"],
            ["staff_users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cutoff_key", "kind", "seq", name="uq_courier_batches_cutoff_seq"),
    )
    op.create_index(
        op.f("ix_courier_batches_cutoff_key"), "courier_batches", ["cutoff_key"], unique=False
    )
    op.create_table(
        "courier_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=8), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("verify_id", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=80), nullable=False),
        sa.Column("cert_type", sa.String(length=100), nullable=False),
        sa.Column("contents", sa.String(length=4), nullable=False),
        sa.Column("parcels", sa.Integer(), nullable=False),
        sa.Column("holder_name_enc", sa.Text(), nullable=False),
        sa.Column("holder_name_masked", sa.String(length=50), nullable=False),
        sa.Column("recipient_name_enc", sa.Text(), nullable=False),
        sa.Column("recipient_name_masked", sa.String(length=50), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_masked", sa.String(length=11), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("town_code", sa.String(length=9), nullable=True),
        sa.Column("province", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=20), nullable=True),
        sa.Column("district", sa.String(length=20), nullable=True),
        sa.Column("address_detail_enc", sa.Text(), nullable=False),
        sa.Column("office_code", sa.String(length=80), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("ready_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("return_reason", sa.String(length=20), nullable=True),
        sa.Column("validity", sa.String(length=10), nullable=False),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("lookup_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lookup_failed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("scope IN ('county', 'out')", name="courier_scope_known"),
        sa.CheckConstraint("parcels >= 1", name="courier_parcels_positive"),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff_users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by_id"],
            ["courier_certificates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
        sa.UniqueConstraint("reference"),
        sa.UniqueConstraint("verify_id"),
    )
    op.create_index(
        "ix_courier_certificates_phone_masked",
        "courier_certificates",
        ["phone_masked"],
        unique=False,
    )
    op.create_index(
        "ix_courier_certificates_status_office",
        "courier_certificates",
        ["status", "office_code"],
        unique=False,
    )
    op.create_table(
        "courier_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"],
            ["staff_users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["courier_batches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["courier_certificates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_courier_events_batch_id"), "courier_events", ["batch_id"], unique=False
    )
    op.create_index(
        op.f("ix_courier_events_certificate_id"), "courier_events", ["certificate_id"], unique=False
    )
    op.create_table(
        "courier_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["courier_certificates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_index(
        "ix_courier_notices_due", "courier_notices", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        op.f("ix_courier_notices_certificate_id"),
        "courier_notices",
        ["certificate_id"],
        unique=False,
    )
    op.create_table(
        "courier_parcels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stop_no", sa.Integer(), nullable=True),
        sa.Column("tracking_no", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("return_reason", sa.String(length=20), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["courier_batches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["courier_certificates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "seq", name="uq_courier_parcels_batch_seq"),
        sa.UniqueConstraint("tracking_no"),
    )
    op.create_index(
        op.f("ix_courier_parcels_batch_id"), "courier_parcels", ["batch_id"], unique=False
    )
    op.create_index(
        op.f("ix_courier_parcels_certificate_id"),
        "courier_parcels",
        ["certificate_id"],
        unique=False,
    )
    op.create_index(
        "uq_courier_parcels_open_certificate",
        "courier_parcels",
        ["certificate_id"],
        unique=True,
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_courier_parcels_open_certificate",
        table_name="courier_parcels",
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    op.drop_index(op.f("ix_courier_parcels_certificate_id"), table_name="courier_parcels")
    op.drop_index(op.f("ix_courier_parcels_batch_id"), table_name="courier_parcels")
    op.drop_table("courier_parcels")
    op.drop_index(op.f("ix_courier_notices_certificate_id"), table_name="courier_notices")
    op.drop_index("ix_courier_notices_due", table_name="courier_notices")
    op.drop_table("courier_notices")
    op.drop_index(op.f("ix_courier_events_certificate_id"), table_name="courier_events")
    op.drop_index(op.f("ix_courier_events_batch_id"), table_name="courier_events")
    op.drop_table("courier_events")
    op.drop_index("ix_courier_certificates_status_office", table_name="courier_certificates")
    op.drop_index("ix_courier_certificates_phone_masked", table_name="courier_certificates")
    op.drop_table("courier_certificates")
    op.drop_index(op.f("ix_courier_batches_cutoff_key"), table_name="courier_batches")
    op.drop_table("courier_batches")
    op.drop_table("courier_signing_keys")
    op.drop_table("courier_cutoff_claims")
