"""The lexical side: SQLite FTS5 (BM25, porter stemming) or PostgreSQL full text (english stemming).

A query becomes an OR of its content words, so a question matches a note that shares any of them;
rare words weigh more than common ones (BM25 on SQLite, ts_rank_cd weighted by IDF on PostgreSQL).
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from memory.terms import terms

# FTS5 alone: joining knowledge_item to drop forgotten rows doubled the query's time (a row lookup per
# match, before the LIMIT). Forgotten rows are dropped afterwards instead (``search_on`` asks for a margin
# of extra rows, and a hybrid search drops whatever is not live when it fetches the rows).
SQLITE_SQL = (
    "SELECT rowid AS id, -bm25(knowledge_fts) AS score FROM knowledge_fts "
    "WHERE knowledge_fts MATCH :q ORDER BY bm25(knowledge_fts) LIMIT :n"
)
_SQLITE = text(SQLITE_SQL)
_SQLITE_LIVE = text(
    "SELECT id FROM knowledge_item WHERE id IN (SELECT value FROM json_each(:ids)) AND deleted_at IS NULL"
)
# PostgreSQL's ranking functions know nothing of the corpus, so a rare word counts no more than a common
# one; weigh each query word by its inverse document frequency (counted with the GIN index, capped).
_POSTGRES = text(
    "WITH t AS (SELECT w, to_tsquery('english', w) AS tq FROM unnest(CAST(:words AS text[])) AS w), "
    "d AS (SELECT tq, (SELECT count(*) FROM (SELECT 1 FROM knowledge_item k WHERE k.tsv @@ t.tq "
    "LIMIT 10000) s) AS df FROM t WHERE numnode(tq) > 0), "
    "total AS (SELECT greatest(count(*), 1) AS n FROM knowledge_item) "
    "SELECT i.id AS id, sum(ln(1 + (total.n - d.df + 0.5) / (d.df + 0.5)) * ts_rank_cd(i.tsv, d.tq)) AS score "
    "FROM knowledge_item i JOIN d ON i.tsv @@ d.tq CROSS JOIN total "
    "WHERE i.deleted_at IS NULL GROUP BY i.id ORDER BY score DESC, i.id DESC LIMIT :n"
)


def fts5_query(words: list[str]) -> str:
    """Return an FTS5 MATCH expression: each word quoted (so none is an operator), joined by OR."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def sqlite_params(words: list[str], n: int) -> dict[str, object]:
    """Return the parameters of ``SQLITE_SQL`` for a query's words: ``2 * n`` rows, a margin for forgotten ones."""
    return {"q": fts5_query(words), "n": 2 * n}


def search(engine: Engine, query: str, n: int) -> list[tuple[int, float]]:
    """Return up to ``n`` (item id, score) pairs for a query, best first; higher scores are better."""
    with engine.connect() as conn:
        return search_on(conn, query, n)


def search_on(conn: Connection, query: str, n: int, live_checked: bool = False) -> list[tuple[int, float]]:
    """`search` on an open connection (a hybrid search reads both sides and the rows on one).

    Args:
        conn: The connection.
        query: What to look for.
        n: How many results at most.
        live_checked: The caller drops forgotten items itself (it fetches the rows anyway): on SQLite
            up to ``2 * n`` results come back, forgotten ones among them, for it to filter and cut to ``n``.
    """
    words = terms(query)
    if not words or n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_POSTGRES, {"words": words, "n": n}).all()
        return [(int(r[0]), float(r[1])) for r in rows]
    found = [(int(r[0]), float(r[1])) for r in conn.execute(_SQLITE, sqlite_params(words, n))]
    if not live_checked:
        live = set(conn.execute(_SQLITE_LIVE, {"ids": json.dumps([i for i, _ in found])}).scalars())
        found = [(i, sc) for i, sc in found if i in live]
    return found[:n] if not live_checked else found
