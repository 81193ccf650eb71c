"""The in-memory lexical side (SQLite): the same tokens, rows, scores and order as FTS5, and always fresh."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from memory.db import make_engine, transaction
from memory.knowledge import porter
from memory.knowledge.embedders import HashingEmbedder
from memory.knowledge.lexical import fts5_query
from memory.knowledge.store import KnowledgeStore
from memory.terms import terms

CORPUS = [
    "The runner was running; she runs daily and ran yesterday.",
    "Connection lost: connected again after connecting, connections reset.",
    "RUNNING RUNS Run, run run!",
    "Café naïve façade — ÉCOLE élève, the cafe school",
    "Straße STRASSE strasse",
    "run-time, run_time; e-mail: foo@bar.com (v2.0.1)",
    "generalization generalize general generally generous",
    "happy happiness happily unhappy",
    "日本語のテキスト and a run",
    "Relational rationale: conditional conditioning conditioned",
    "hopping hoped hoping hopeful hopefully",
    "the wifi password is on the fridge",
    "a connection, a connection, a connection to the runner",
    "Ünïcödé façade cafés",
]
QUERIES = [
    "running",
    "runs",
    "ran",
    "connection",
    "connected connecting",
    "café",
    "CAFE",
    "ecole élève",
    "Straße",
    "strasse",
    "run-time e-mail",
    "foo@bar.com",
    "generalization general",
    "happiness happy",
    "日本語のテキスト",
    "running connection café",
    "runs RUNS run running",  # words that stem alike count once each, as in FTS5
    "relational conditioning",
    "hopeful hopping",
    "unicode façade",
    "nothing matches zzzz",
    "v2 0 1",
]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[KnowledgeStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'coo.sqlite'}")
    store = KnowledgeStore(engine, HashingEmbedder(), tmp_path / "knowledge").open()
    yield store
    store.close()
    engine.dispose()


def remember_all(store: KnowledgeStore, texts: list[str]) -> list[int]:
    with transaction(store.engine) as s:
        return [store.remember(s, t).item.id or 0 for t in texts]


def fts5_ranking(engine: Engine, query: str, n: int) -> list[tuple[int, float]]:
    """FTS5's own ranking of the live rows: -bm25, best first, cut to ``n`` after dropping forgotten rows."""
    words = terms(query)
    if not words:
        return []
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT rowid, -bm25(knowledge_fts) FROM knowledge_fts WHERE knowledge_fts MATCH :q "
                "ORDER BY bm25(knowledge_fts)"
            ),
            {"q": fts5_query(words)},
        ).all()
        live = set(conn.execute(text("SELECT id FROM knowledge_item WHERE deleted_at IS NULL")).scalars())
    return [(int(i), float(s)) for i, s in found if i in live][:n]


def test_ascii_tokens_are_fts5s():
    # Every suffix rule of the stemmer on several stems, inflected, plus random words over the letters
    # the rules look at: tokenized here and by SQLite's own porter unicode61, the same tokens.
    suffixes = (
        "ational tional enci anci izer bli abli alli entli eli ousli ization ation ator alism iveness "
        "fulness ousness aliti iviti biliti logi icate ative alize iciti ical ful ness al ance ence er ic "
        "able ible ant ement ment ent ion sion tion ou ism ate iti ous ive ize sses ies ss s eed ed ing y e "
        "ll at bl iz"
    ).split()
    stems = ["", "a", "y", "b", "ab", "by", "ya", "cat", "trib", "ration", "hop", "fil", "conn", "gener", "e", "oy"]
    words = {s + x + y for s in stems for x in suffixes for y in ("", "s", "ing", "ed")}
    pick = random.Random(5)
    words |= {"".join(pick.choice("aeiouystlzbcdngmrvwx") for _ in range(pick.randint(1, 12))) for _ in range(8000)}
    words |= {"x" * 70 + "ing", "RUNNING", "Connected", "a1b2", "123", "3rd", "ies", "eed", "sses"}
    ordered = sorted(words)
    texts = [" ".join(ordered[i : i + 40]) + " run_time e-mail, foo@bar.com" for i in range(0, len(ordered), 40)]
    assert porter.tokenize_many(texts) == porter._SqliteTokenizer().tokens(texts)


def test_ranking_is_fts5s(sqlite_store: KnowledgeStore):
    # Given stemming-sensitive, cased, punctuated and non-ASCII texts, a few of them forgotten (they
    # still count in FTS5's statistics)...
    ids = remember_all(sqlite_store, CORPUS)
    with transaction(sqlite_store.engine) as s:
        sqlite_store.forget(s, ids[1])
        sqlite_store.forget(s, ids[12])
    words = sqlite_store.words
    assert words is not None
    # ...the in-memory index has FTS5's rows, scores and order, and FTS5 still answers the same.
    assert sqlite_store.search("zzzz", mode="lexical") == []  # catches up
    for q in QUERIES:
        for n in (1, 3, 100):
            assert words.search(q, n) == fts5_ranking(sqlite_store.engine, q, n), (q, n)
    assert words.search("running", 100)  # the corpus is not trivially empty
    assert words.search("connection", 100) == []  # both rows with the word are forgotten


def test_ties_and_hybrid_results_are_unchanged(sqlite_store: KnowledgeStore):
    # A corpus shaped like bench/retrieval.py's: many rows of one length share a word, so scores tie.
    pick = random.Random(7)
    vocab = [f"w{i}" for i in range(300)]
    texts = [f"item {i} topic{pick.randrange(40)} " + " ".join(pick.sample(vocab, 6)) for i in range(1500)]
    with transaction(sqlite_store.engine) as s:
        sqlite_store.remember_many(s, texts)
    queries = [f"topic{pick.randrange(40)} " + " ".join(pick.sample(vocab, 3)) for _ in range(40)]
    words = sqlite_store.words
    assert words is not None
    sqlite_store.search("zzzz")  # both indexes catch up
    for q in queries:
        assert words.search(q, 40) == fts5_ranking(sqlite_store.engine, q, 40), q
    # Some rows forgotten once both indexes hold them (FTS5 keeps them, the vector index marks them stale).
    with transaction(sqlite_store.engine) as s:
        for item_id in range(1, 1500, 37):
            sqlite_store.forget(s, item_id)
    ours = {(q, m): sqlite_store.search(q, k=5, mode=m) for q in queries for m in ("hybrid", "lexical")}
    for q in queries:
        assert words.search(q, 40) == fts5_ranking(sqlite_store.engine, q, 40), q
    sqlite_store.words = None  # FTS5's own ranking, as before the in-memory index
    assert {(q, m): sqlite_store.search(q, k=5, mode=m) for q in queries for m in ("hybrid", "lexical")} == ours


def test_written_and_forgotten_after_the_index_was_built(open_store):
    store = open_store(HashingEmbedder())
    [old] = remember_all(store, ["The wifi password is on the fridge"])
    assert [h.id for h in store.search("wifi", mode="lexical")] == [old]
    # Written after the index was built: found by its stemmed words, in both modes.
    [new] = remember_all(store, ["Invoices are chased on Mondays by the bookkeeper"])
    for mode in ("lexical", "hybrid"):
        assert new in [h.id for h in store.search("invoice chasing", mode=mode)]
    # Forgotten: gone at once; restored: back.
    with transaction(store.engine) as s:
        store.forget(s, new)
    for mode in ("lexical", "hybrid"):
        assert new not in [h.id for h in store.search("invoice chasing", mode=mode)]
    with transaction(store.engine) as s:
        store.restore(s, new)
    assert [h.id for h in store.search("invoices", mode="lexical")] == [new]
    # Written by another process (another store on the same database): found too.
    other = open_store(HashingEmbedder())
    [third] = remember_all(other, ["The bookkeeper files receipts monthly"])
    assert [h.id for h in store.search("receipt", mode="lexical")] == [third]
    # A restart rebuilds from SQL: nothing is lost, the forgotten stay forgotten.
    with transaction(store.engine) as s:
        store.forget(s, old)
    store.close()
    again = open_store(HashingEmbedder())
    assert {h.id for h in again.search("bookkeeper", mode="lexical")} == {new, third}
    assert again.search("wifi fridge", mode="lexical") == []
