"""Slot time per skill: how much service time the clerks on shift with a skill can give.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slot_skills",
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("service_s", sa.Integer(), nullable=False),
        sa.CheckConstraint("service_s >= 0", name="skill_service_not_negative"),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("slot_id", "skill"),
    )


def downgrade() -> None:
    op.drop_table("slot_skills")
