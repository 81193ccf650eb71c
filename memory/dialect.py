"""SQL that differs by database: the one place that picks PostgreSQL's or SQLite's form.

Its own module (not memory/db) because memory/db imports the modules that define tables, and some of
them (memory/invoices) need this too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session


def dialect_insert(bind: Engine | Connection | Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT into ``table`` in the form of ``bind``'s database, so it has ``on_conflict_do_*``.

    Args:
        bind: An engine, a connection or a session (its bind's dialect decides).
        table: A table or an ORM class.
    """
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table)
