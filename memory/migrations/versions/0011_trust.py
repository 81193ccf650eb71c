"""trust: the append-only record of each action kind's trust level (ask, auto within a bound, advisory).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "trustlevel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("bound_cents", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source"),
    )
    with op.batch_alter_table("trustlevel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trustlevel_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_trustlevel_at"), ["at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("trustlevel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trustlevel_at"))
        batch_op.drop_index(batch_op.f("ix_trustlevel_kind"))
    op.drop_table("trustlevel")
