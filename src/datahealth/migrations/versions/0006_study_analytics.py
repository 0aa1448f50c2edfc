"""study analytics: study definitions and allocations

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-21 16:40:00
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
        "study_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column("allocation_source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "study_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("arm", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["study_definitions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "consortium_id", "participant_id", name="uq_study_allocations"),
    )
    op.create_index(op.f("ix_study_allocations_study_id"), "study_allocations", ["study_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_study_allocations_study_id"), table_name="study_allocations")
    op.drop_table("study_allocations")
    op.drop_table("study_definitions")
