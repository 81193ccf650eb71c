"""crm: deals, activity, and a draft recipient.

Drafts made before this revision get an empty recipient (the server default fills existing rows).
A run's planner name grows to 200 characters: it carries every agent prompt's version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:11:41.509140
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _planner_length(n: int) -> None:
    # SQLite does not enforce VARCHAR lengths: only PostgreSQL needs the change (and no table copy).
    if op.get_context().dialect.name == "postgresql":
        op.alter_column("run", "planner", type_=sa.String(length=n), existing_nullable=False)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "deal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("value_cents", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deal_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deal_stage"), ["stage"], unique=False)

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_deal_id"), ["deal_id"], unique=False)

    with op.batch_alter_table("draft", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False, server_default=""
            )
        )
    _planner_length(200)


def downgrade() -> None:
    """Revert this revision."""
    _planner_length(64)
    with op.batch_alter_table("draft", schema=None) as batch_op:
        batch_op.drop_column("recipient")

    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_deal_id"))
        batch_op.drop_index(batch_op.f("ix_activity_customer_id"))
        batch_op.drop_index(batch_op.f("ix_activity_at"))

    op.drop_table("activity")
    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deal_stage"))
        batch_op.drop_index(batch_op.f("ix_deal_customer_id"))

    op.drop_table("deal")
