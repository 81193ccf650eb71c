"""claims and outbox: who holds an inbox claim and until when; replies owed to a chat.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("inboxitem", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claimed_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        "outboxitem",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ref", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("outboxitem", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outboxitem_channel"), ["channel"], unique=False)
        batch_op.create_index(batch_op.f("ix_outboxitem_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_outboxitem_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("outboxitem", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outboxitem_created_at"))
        batch_op.drop_index(batch_op.f("ix_outboxitem_status"))
        batch_op.drop_index(batch_op.f("ix_outboxitem_channel"))
    op.drop_table("outboxitem")
    with op.batch_alter_table("inboxitem", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
