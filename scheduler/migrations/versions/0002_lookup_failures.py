"""Bookings count look-ups with a wrong phone suffix (a reference locks after too many).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(
            sa.Column("lookup_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("lookup_failed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("lookup_failed_at")
        batch.drop_column("lookup_failures")
