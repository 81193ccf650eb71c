"""digests: the span each digest covered per destination, so the next starts where it ended.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "digestwindow",
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("digestwindow", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digestwindow_destination"), ["destination"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("digestwindow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digestwindow_destination"))
    op.drop_table("digestwindow")
