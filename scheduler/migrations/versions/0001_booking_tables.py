"""Booking tables: zones, clerks, shifts, slots, bookings, audit events, idempotency keys, staff.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:17:00.840973
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clerks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("skills", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "zones",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("half_day", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["clerk_id"],
            ["clerks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clerk_id", "date", "half_day"),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("half_day", sa.String(length=2), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint("half_day IN ('am', 'pm')", name="half_day_known"),
        sa.CheckConstraint("booked >= 0", name="booked_not_negative"),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("zone_code", "date", "half_day"),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clerk_id"],
            ["clerks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "zone_towns",
        sa.Column("town_code", sa.String(length=9), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("town_code"),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=8), nullable=False),
        sa.Column("item_code", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("applicant_name_enc", sa.Text(), nullable=False),
        sa.Column("applicant_name_masked", sa.String(length=50), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_masked", sa.String(length=18), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("age_at_booking", sa.Integer(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_masked", sa.String(length=11), nullable=False),
        sa.Column("booker_kind", sa.String(length=12), nullable=False),
        sa.Column("booker_name_enc", sa.Text(), nullable=True),
        sa.Column("booker_name_masked", sa.String(length=50), nullable=True),
        sa.Column("booker_relationship", sa.String(length=30), nullable=True),
        sa.Column("booker_phone_enc", sa.Text(), nullable=True),
        sa.Column("booker_phone_masked", sa.String(length=11), nullable=True),
        sa.Column("town_code", sa.String(length=9), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=False),
        sa.Column("village", sa.String(length=50), nullable=False),
        sa.Column("address_detail_enc", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("datum", sa.String(length=8), nullable=True),
        sa.Column("geo_precision", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("disability_grade", sa.Integer(), nullable=True),
        sa.Column("eligible_by", sa.String(length=12), nullable=False),
        sa.Column("needs_phone_check", sa.Boolean(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("half_day", sa.String(length=2), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("assigned_clerk_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_clerk_id"],
            ["clerks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff_users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["slots.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_date_zone", ["date", "zone_code"], unique=False)
        batch_op.create_index("ix_bookings_phone_masked", ["phone_masked"], unique=False)
        batch_op.create_index(
            "uq_bookings_active_person_item",
            ["id_hash", "item_code"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'confirmed', 'scheduled')"),
            postgresql_where=sa.text("status IN ('pending', 'confirmed', 'scheduled')"),
        )

    op.create_table(
        "booking_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
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
            ["booking_id"],
            ["bookings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("booking_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_events_booking_id"), ["booking_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("booking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_events_booking_id"))

    op.drop_table("booking_events")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_bookings_active_person_item",
            sqlite_where=sa.text("status IN ('pending', 'confirmed', 'scheduled')"),
            postgresql_where=sa.text("status IN ('pending', 'confirmed', 'scheduled')"),
        )
        batch_op.drop_index("ix_bookings_phone_masked")
        batch_op.drop_index("ix_bookings_date_zone")

    op.drop_table("bookings")
    op.drop_table("zone_towns")
    op.drop_table("staff_users")
    op.drop_table("slots")
    op.drop_table("shifts")
    op.drop_table("zones")
    op.drop_table("idempotency_keys")
    op.drop_table("clerks")
