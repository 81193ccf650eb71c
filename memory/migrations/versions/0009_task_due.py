"""tasks: a due time (or day), the conversation a task came from, and its reminder job.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("due_all_day", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column(
                "conversation",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("reminder_job", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_task_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_due_at"))
        batch_op.drop_column("reminder_job")
        batch_op.drop_column("conversation")
        batch_op.drop_column("due_all_day")
        batch_op.drop_column("due_at")
