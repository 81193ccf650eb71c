"""Install what SQLModel cannot declare: the full-text side of the knowledge tables.

SQLite gets an FTS5 table over ``knowledge_item.text`` kept in step by triggers (so it commits
with the row); PostgreSQL gets a generated ``tsvector`` column with a GIN index.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from memory.db import schema_lock
from memory.knowledge.tables import KnowledgeItem, KnowledgeMeta

_SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5("
    "text, content='knowledge_item', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS knowledge_fts_ai AFTER INSERT ON knowledge_item BEGIN "
    "INSERT INTO knowledge_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS knowledge_fts_ad AFTER DELETE ON knowledge_item BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS knowledge_fts_au AFTER UPDATE OF text ON knowledge_item BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO knowledge_fts(rowid, text) VALUES (new.id, new.text); END",
]
_POSTGRES = [
    "ALTER TABLE knowledge_item ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_knowledge_item_tsv ON knowledge_item USING GIN (tsv)",
]


def ensure_schema(engine: Engine) -> None:
    """Create the knowledge tables and their full-text index if they do not exist (idempotent)."""
    with schema_lock(engine):
        SQLModel.metadata.create_all(engine, tables=[KnowledgeItem.__table__, KnowledgeMeta.__table__])  # type: ignore[attr-defined]
        statements = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
