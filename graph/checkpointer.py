"""The checkpointer: SQLite by default, PostgreSQL when the database is PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agents.contract import Action, SideEffect
from graph.state import Preset, Proposal, RunState, StepResult
from memory.db import SCHEMA_LOCK_KEY, acquire_advisory_lock, is_postgres
from memory.redact import NO_SECRETS, Redactor

STATE_CLASSES: list[type] = [RunState, Proposal, StepResult, Preset, Action, SideEffect]


class RedactingSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with secrets masked in what it writes (masking keeps byte lengths)."""

    def __init__(self, redactor: Redactor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redactor = redactor

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize, then mask secrets."""
        kind, data = super().dumps_typed(obj)
        return kind, self.redactor.bytes(data)


def serializer(redactor: Redactor = NO_SECRETS) -> JsonPlusSerializer:
    """Return a serializer that revives only our own state classes and LangGraph's safe types."""
    return RedactingSerializer(redactor, allowed_msgpack_modules=None).with_msgpack_allowlist(STATE_CLASSES)


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SCHEMA_LOCK_KEY,)).fetchone()
    return bool(row and row["ok"])


@contextmanager
def open_checkpointer(
    database_url: str | None, data_dir: Path, redactor: Redactor = NO_SECRETS
) -> Iterator[BaseCheckpointSaver[str]]:
    """Open the checkpointer for a deployment and close it afterwards.

    Args:
        database_url: PostgreSQL URL, or None/SQLite for the embedded file under ``data_dir``.
        data_dir: Where the embedded checkpoint database lives.
        redactor: Masks secrets in everything written.
    """
    if database_url and is_postgres(database_url):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        url = database_url.replace("postgresql+psycopg://", "postgresql://")
        # autocommit=True, or PostgresSaver's writes are never committed.
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=True,
        )
        try:
            pg = PostgresSaver(pool, serde=serializer(redactor))  # type: ignore[arg-type]
            with pool.connection() as lock_conn:
                # Processes starting together take turns at the migrations (the same lock as memory.db).
                acquire_advisory_lock(lambda: _try_lock(lock_conn))
                try:
                    pg.setup()
                finally:
                    lock_conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
            yield pg
        finally:
            pool.close()
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "checkpoints.sqlite", check_same_thread=False, timeout=15)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=15000")
    try:
        saver = SqliteSaver(conn, serde=serializer(redactor))
        saver.setup()
        yield saver
    finally:
        conn.close()
