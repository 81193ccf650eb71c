"""Alembic environment: run on the connection `memory.migrate` hands over (no alembic.ini, no env reads)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import memory.db  # noqa: F401  (registers every table on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite changes columns by copying the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
