"""What a search reads from SQL: the store's generation, the lexical side, and the live rows of the top hits.

On SQLite these run on the driver's own connection: SQLAlchemy's execution path (a connection wrapper,
a compiled-statement lookup, an execution context and result metadata per statement) cost about as much
as each statement itself, three times a search. The values are converted by the columns' own types, so
rows come back as they would through SQLAlchemy. PostgreSQL keeps the SQLAlchemy statements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Dialect, Engine

from memory.knowledge import lexical
from memory.knowledge.sync import GENERATION, T
from memory.terms import terms

Row = tuple[int, str, str, str, bool, datetime]  # id, text, kind, source, trusted, created_at

# The live rows among a search's candidates; built once (building it per search cost a fifth of a search).
_LIVE = sa_select(T.id, T.text, T.kind, T.source, T.trusted, T.created_at).where(
    T.id.in_(bindparam("ids", expanding=True)),
    T.deleted_at.is_(None),
    or_(T.expires_at.is_(None), T.expires_at > bindparam("now")),
)
_LIVE_OF_KINDS = _LIVE.where(T.kind.in_(bindparam("kinds", expanding=True)))
# SQLite: the ids (and kinds) come as one JSON array parameter each, so the statement is prepared once.
_SQLITE_LIVE = (
    "SELECT id, text, kind, source, trusted, created_at FROM knowledge_item "
    "WHERE id IN (SELECT value FROM json_each(:ids)) AND deleted_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > :now)"
)
_SQLITE_LIVE_OF_KINDS = _SQLITE_LIVE + " AND kind IN (SELECT value FROM json_each(:kinds))"
_SQLITE_GENERATION = "SELECT generation FROM knowledge_meta WHERE id = 'default'"
# The rows changed after a generation, for the in-memory word index (``wordindex``).
_SQLITE_CHANGED = "SELECT id, text, deleted_at IS NULL FROM knowledge_item WHERE rev > ?"


class Reader(Protocol):
    """One search's reads, on one connection."""

    def generation(self) -> int:
        """Return the store's generation as committed now."""
        ...

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        """Return lexical (id, score) pairs, best first: up to ``2 * n`` on SQLite, forgotten ones among them."""
        ...

    def live_rows(self, ids: Sequence[int], now: datetime, kinds: Sequence[str] | None) -> dict[int, Row]:
        """Return the rows of those ids that are live at ``now`` (and of one of ``kinds``), by id."""
        ...


class SqlReader:
    """The reads through SQLAlchemy (PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def generation(self) -> int:  # noqa: D102 - see Reader
        return int(self.conn.execute(GENERATION).scalar_one())

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:  # noqa: D102
        return lexical.search_on(self.conn, query, n, live_checked=True)

    def live_rows(self, ids: Sequence[int], now: datetime, kinds: Sequence[str] | None) -> dict[int, Row]:  # noqa: D102
        params: dict[str, Any] = {"ids": list(ids), "now": now}
        if kinds:
            params["kinds"] = list(kinds)
        rows = self.conn.execute(_LIVE_OF_KINDS if kinds else _LIVE, params)
        return {r[0]: (r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}


class SqliteReader:
    """The reads on the sqlite3 connection itself."""

    def __init__(self, dbapi: Any, codec: SqliteCodec) -> None:
        self.dbapi = dbapi
        self.codec = codec

    def generation(self) -> int:  # noqa: D102 - see Reader
        return int(self.dbapi.execute(_SQLITE_GENERATION).fetchone()[0])

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:  # noqa: D102
        words = terms(query)
        if not words or n <= 0:
            return []
        found = self.dbapi.execute(lexical.SQLITE_SQL, lexical.sqlite_params(words, n))
        return [(int(i), float(sc)) for i, sc in found]

    def changed(self, since: int) -> list[tuple[int, str, bool]]:
        """Return (id, text, live) of the rows changed after generation ``since`` (for ``wordindex``)."""
        return [(int(i), t, bool(live)) for i, t, live in self.dbapi.execute(_SQLITE_CHANGED, (since,))]

    def live_rows(self, ids: Sequence[int], now: datetime, kinds: Sequence[str] | None) -> dict[int, Row]:  # noqa: D102
        params = {"ids": json.dumps(list(ids)), "now": self.codec.bind_time(now)}
        if kinds:
            params["kinds"] = json.dumps(list(kinds))
        rows = self.dbapi.execute(_SQLITE_LIVE_OF_KINDS if kinds else _SQLITE_LIVE, params)
        time = self.codec.result_time
        return {r[0]: (r[0], r[1], r[2], r[3], bool(r[4]), time(r[5])) for r in rows}


class SqliteCodec:
    """The time columns' own conversions on SQLite (bound once per store)."""

    def __init__(self, dialect: Dialect) -> None:
        kind = T.created_at.type.dialect_impl(dialect)  # the UTC decorator over SQLite's DATETIME
        bind: Callable[[Any], Any] | None = kind.bind_processor(dialect)
        result: Callable[[Any], Any] | None = kind.result_processor(dialect, None)
        self.bind_time: Callable[[Any], Any] = bind or (lambda v: v)
        self.result_time: Callable[[Any], Any] = result or (lambda v: v)


@contextmanager
def reader(engine: Engine, codec: SqliteCodec | None) -> Iterator[Reader]:
    """Yield a reader on one pooled connection (the driver's own on SQLite, given its ``codec``)."""
    if codec is None:
        with engine.connect() as conn:
            yield SqlReader(conn)
        return
    raw = engine.raw_connection()
    try:
        yield SqliteReader(raw.driver_connection, codec)
    finally:
        raw.close()


def codec_for(engine: Engine) -> SqliteCodec | None:
    """Return the SQLite codec for an engine, or None when it is not SQLite (the reads go through SQLAlchemy)."""
    return SqliteCodec(engine.dialect) if engine.dialect.name == "sqlite" else None
