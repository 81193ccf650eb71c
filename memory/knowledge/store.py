"""The knowledge store: remember, recall (hybrid vector + lexical search), forget, restore, expire.

Writes go into the caller's transaction (so an agent's effect and its event commit together) and
touch SQL only; the FAISS index (see ``sync``) and, on SQLite, the word index (``wordindex``) catch up
from SQL on the next search.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.knowledge.embedders import Embedder
from memory.knowledge.errors import InvalidItem, ItemNotFound, KnowledgeError
from memory.knowledge.fusion import Fused, rrf
from memory.knowledge.reader import Reader, Row, SqliteReader, codec_for, reader
from memory.knowledge.schema import ensure_schema
from memory.knowledge.sync import IndexKeeper, bump
from memory.knowledge.tables import KINDS, KnowledgeItem, KnowledgeMeta
from memory.knowledge.wordindex import WordIndex
from memory.tables import utcnow
from memory.terms import terms

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "lexical"]
MAX_TEXT = 20_000
DEFAULT_TTL: dict[str, timedelta | None] = {
    "note": None,
    "fact": None,
    "playbook": None,
    "outcome": timedelta(days=180),
    "document": timedelta(days=30),
}


def normalise_text(text: str) -> str:
    """Collapse runs of whitespace and trim."""
    return " ".join(text.split())


def content_hash(text: str) -> str:
    """Return the dedup key of a text: SHA-256 of its normalised, case-folded form."""
    return hashlib.sha256(normalise_text(text).casefold().encode()).hexdigest()


@dataclass(frozen=True)
class Remembered:
    """The item a write landed on, and whether it was new, brought back, or already known."""

    item: KnowledgeItem
    created: bool
    revived: bool = False


@dataclass(frozen=True)
class Hit:
    """One recalled item with its fused score and its rank and score on each side."""

    id: int
    text: str
    kind: str
    source: str
    trusted: bool
    created_at: datetime
    score: float
    ranks: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """Return the item's reference as recorded on runs, ``knowledge:<id>``."""
        return f"knowledge:{self.id}"


class KnowledgeStore:
    """Long-term knowledge: texts and metadata in SQL, vectors in a FAISS index under the data dir."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        directory: Path,
        *,
        ttl: Mapping[str, timedelta | None] = DEFAULT_TTL,
        hnsw_m: int = 32,
        ef_search: int = 96,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.directory = directory
        self.ttl = dict(ttl)
        self.keeper = IndexKeeper(engine, embedder, directory, hnsw_m=hnsw_m, ef_search=ef_search)
        self.store_id = ""
        # Items written with their embedding deferred (``remember(defer_embedding=True)``) are embedded
        # by one background thread, or by the next search, whichever comes first; a crash in between
        # loses nothing, since ``open`` embeds every row that lacks a current vector.
        self._asked = self._embedded = 0  # deferred-embedding requests made and covered
        self._embed_lock = threading.Lock()
        self._later: ThreadPoolExecutor | None = None
        self._codec = codec_for(engine)
        # SQLite: the lexical side ranks in memory (FTS5's bm25 was most of a hybrid search); PostgreSQL
        # keeps its full-text query.
        self.words: WordIndex | None = WordIndex() if self._codec is not None else None

    # ---- lifecycle ------------------------------------------------------------------------------

    def open(self) -> KnowledgeStore:
        """Install the schema, re-embed after a model change, load or rebuild the index, expire old items."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ensure_schema(self.engine)
        self.store_id = self._meta().store_id
        self.keeper.open(self.store_id)
        self.purge_expired()
        self.refresh_words()
        return self

    def refresh_words(self) -> None:
        """Bring the in-memory word index up to the committed rows (built whole the first time)."""
        if self.words is None:
            return
        with reader(self.engine, self._codec) as db:
            assert isinstance(db, SqliteReader)  # the word index exists on SQLite only
            self.words.refresh(db.generation(), db.changed)

    def _meta(self) -> KnowledgeMeta:
        with Session(self.engine) as s:
            meta = s.get(KnowledgeMeta, "default")
        if meta is not None:
            return meta
        try:
            with transaction(self.engine) as s:
                s.add(KnowledgeMeta(embed_model=self.embedder.name, embed_version=self.embedder.version))
        except IntegrityError:
            pass  # another process created it first
        return self._meta()

    def close(self) -> None:
        """Finish deferred embeddings, then save the index if it changed."""
        if self._later is not None:
            self._later.shutdown(wait=True)
            self._later = None
        self.keeper.save()

    def embed_later(self) -> None:
        """Embed the items written with a deferred embedding, on a background thread (call after commit)."""
        self._asked += 1
        if self._later is None:
            self._later = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coo-embed")
        self._later.submit(self.embed_pending)

    def embed_pending(self) -> int:
        """Embed the rows still lacking a current vector, if this process wrote any; return how many.

        A failing embedder is logged, not raised: the rows stay findable by their words, and the next
        ``open`` embeds them.
        """
        if self._embedded >= self._asked:
            return 0
        with self._embed_lock:  # a search waits here for a background embedding under way
            asked = self._asked
            if self._embedded >= asked:
                return 0
            try:
                return self.keeper.reembed()
            except KnowledgeError:
                log.warning("deferred embedding failed; the items wait for the next start", exc_info=True)
                return 0
            finally:
                self._embedded = asked

    def __enter__(self) -> KnowledgeStore:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- writes (in the caller's transaction) ---------------------------------------------------

    def remember(
        self,
        session: Session,
        text: str,
        *,
        kind: str = "note",
        source: str = "",
        trusted: bool = True,
        meta: dict[str, Any] | None = None,
        now: datetime | None = None,
        defer_embedding: bool = False,
    ) -> Remembered:
        """Store a text once; a text already known live is returned as it is.

        A text that was forgotten or expired is brought back with the new writer's provenance.
        With ``defer_embedding`` the row is written without its vector (words-only until then); call
        ``embed_later`` after the commit.

        Raises:
            InvalidItem: Empty or too long text, or an unknown kind.
            EmbeddingFailed: The embedder failed.
        """
        now = now or utcnow()
        body = text.strip()
        if not body or len(body) > MAX_TEXT:
            raise InvalidItem(f"text must have 1 to {MAX_TEXT} characters")
        if kind not in KINDS:
            raise InvalidItem(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        digest = content_hash(body)
        if not defer_embedding:  # deferred, nothing slow comes before the lock: the check under it is enough
            existing = self._by_hash(session, digest)
            if existing is not None and _live(existing, now):
                return Remembered(existing, created=False)
        # Embedded before any write: no lock is held while the model runs.
        vector = None if defer_embedding else self.embedder.embed([body])[0].astype("<f4").tobytes()
        gen = bump(session)  # serialises knowledge writes; re-check under it
        existing = self._by_hash(session, digest)
        if existing is not None and _live(existing, now):
            return Remembered(existing, created=False)
        ttl = self.ttl.get(kind)
        values: dict[str, Any] = {
            "kind": kind,
            "source": source[:300],
            "trusted": trusted,
            "meta": meta or {},
            "expires_at": now + ttl if ttl else None,
            "deleted_at": None,
            "rev": gen,
            "embed_model": "" if vector is None else self.embedder.name,  # "": ``reembed`` finds it
            "embed_version": "" if vector is None else self.embedder.version,
            "vector": vector,
        }
        if existing is not None:
            for key, value in values.items():
                setattr(existing, key, value)
            session.add(existing)
            session.flush()
            return Remembered(existing, created=False, revived=True)
        item = KnowledgeItem(text=body, content_hash=digest, created_at=now, **values)
        session.add(item)
        session.flush()
        return Remembered(item, created=True)

    def remember_many(
        self,
        session: Session,
        texts: Sequence[str],
        *,
        kind: str = "note",
        source: str = "",
        trusted: bool = True,
        now: datetime | None = None,
    ) -> int:
        """Store many new texts at once (an import); texts already known, live or not, are skipped.

        Returns:
            How many items were created.

        Raises:
            InvalidItem: A text is empty or too long, or the kind is unknown.
            EmbeddingFailed: The embedder failed.
        """
        now = now or utcnow()
        if kind not in KINDS:
            raise InvalidItem(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        fresh: dict[str, str] = {}
        for text in texts:
            body = text.strip()
            if not body or len(body) > MAX_TEXT:
                raise InvalidItem(f"text must have 1 to {MAX_TEXT} characters")
            fresh.setdefault(content_hash(body), body)
        known: set[str] = set()
        digests = list(fresh)
        for i in range(0, len(digests), 1000):
            chunk = digests[i : i + 1000]
            known.update(
                session.exec(
                    select(KnowledgeItem.content_hash).where(col(KnowledgeItem.content_hash).in_(chunk))
                )
            )
        todo = [(d, t) for d, t in fresh.items() if d not in known]
        if not todo:
            return 0
        vectors = self.embedder.embed([t for _, t in todo])
        gen = bump(session)
        ttl = self.ttl.get(kind)
        session.add_all(
            KnowledgeItem(
                text=t,
                content_hash=d,
                kind=kind,
                source=source[:300],
                trusted=trusted,
                created_at=now,
                expires_at=now + ttl if ttl else None,
                rev=gen,
                embed_model=self.embedder.name,
                embed_version=self.embedder.version,
                vector=v.astype("<f4").tobytes(),
            )
            for (d, t), v in zip(todo, vectors, strict=True)
        )
        session.flush()
        return len(todo)

    def forget(self, session: Session, item_id: int, *, now: datetime | None = None) -> KnowledgeItem:
        """Soft-delete a live item (it stops being recalled; ``restore`` brings it back).

        Raises:
            ItemNotFound: No live item has this id.
        """
        gen = bump(session)
        item = session.get(KnowledgeItem, item_id)
        if item is None or item.deleted_at is not None:
            raise ItemNotFound(item_id)
        item.deleted_at, item.rev = now or utcnow(), gen
        session.add(item)
        session.flush()
        return item

    def forget_source(self, session: Session, source: str, kind: str) -> list[int]:
        """Soft-delete every live item of one kind written by one source (``run:<id>``); return their ids."""
        items = session.exec(
            select(KnowledgeItem).where(
                KnowledgeItem.source == source,
                KnowledgeItem.kind == kind,
                col(KnowledgeItem.deleted_at).is_(None),
            )
        ).all()
        return [self.forget(session, item.id).id or 0 for item in items if item.id is not None]

    def restore(self, session: Session, item_id: int) -> KnowledgeItem:
        """Bring back a forgotten item (a no-op for a live one).

        Raises:
            ItemNotFound: No item has this id.
        """
        gen = bump(session)
        item = session.get(KnowledgeItem, item_id)
        if item is None:
            raise ItemNotFound(item_id)
        if item.deleted_at is not None:
            item.deleted_at, item.rev = None, gen
            session.add(item)
            session.flush()
        return item

    def purge_expired(self, now: datetime | None = None) -> int:
        """Soft-delete items past their time to live; return how many."""
        now = now or utcnow()
        with transaction(self.engine) as s:
            ids = s.exec(
                select(KnowledgeItem.id).where(
                    col(KnowledgeItem.deleted_at).is_(None), col(KnowledgeItem.expires_at) <= now
                )
            ).all()
            if not ids:
                return 0
            gen = bump(s)
            s.execute(
                update(KnowledgeItem).where(col(KnowledgeItem.id).in_(ids)).values(deleted_at=now, rev=gen)
            )
        log.info("expired %d knowledge items", len(ids))
        return len(ids)

    @staticmethod
    def _by_hash(session: Session, digest: str) -> KnowledgeItem | None:
        return session.exec(select(KnowledgeItem).where(KnowledgeItem.content_hash == digest)).first()

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, item_id: int) -> KnowledgeItem | None:
        """Return one item, live or not."""
        with Session(self.engine) as s:
            return s.get(KnowledgeItem, item_id)

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        kinds: Sequence[str] | None = None,
        min_similarity: float | None = None,
        now: datetime | None = None,
    ) -> list[Hit]:
        """Return the ``k`` live items best matching a query, fusing vector and lexical ranks (RRF).

        Args:
            query: What to look for.
            k: How many hits at most.
            mode: ``hybrid`` (both sides, fused), ``vector`` or ``lexical`` alone.
            kinds: Only these kinds.
            min_similarity: Drop vector hits below this cosine (lexical hits are kept).
            now: The time expiry is judged at.
        """
        now = now or utcnow()
        if self._embedded < self._asked and mode != "lexical":
            self.embed_pending()  # what this process just wrote is found by meaning too
        want = max(4 * k, 20)
        by_vector = mode != "lexical" and bool(query.strip())
        query_terms = terms(query) if mode != "vector" else []
        by_words = bool(query_terms)
        vector: list[tuple[int, float]] | None = None
        lexical_hits: list[tuple[int, float]] | None = None
        # One connection for the whole search (generation check, lexical side, rows): each checkout
        # from the pool and each statement built afresh cost as much as the vector search itself.
        with reader(self.engine, self._codec) as db:
            own = db if isinstance(db, SqliteReader) else None
            words = self.words if own is not None else None
            gen = db.generation() if by_vector or (by_words and words is not None) else 0
            # Both sides in turn, on this thread: handing the vector side to a worker meanwhile lost on
            # 2 busy cores (6x raw HNSW against 3.7x in turn), and gains nothing on one shared core.
            if by_vector:  # the index catches up first: both sides drop what it knows is gone
                self.keeper.refresh(generation=gen)
                vector = self._vector(query, want, min_similarity)
            from_fts = False
            if by_words:
                if words is not None and own is not None:  # in memory, live rows only; None: ask FTS5
                    words.refresh(gen, own.changed)
                    lexical_hits = words.search_terms(query_terms, 2 * want)
                if lexical_hits is None:
                    lexical_hits, from_fts = db.lexical(query, want), True
            lists: dict[str, list[tuple[int, float]]] = {}
            if vector is not None:
                lists["vector"] = vector
            # FTS5 keeps forgotten rows: drop those the vector index knows are gone, when it just caught up
            # (its stale set is older otherwise; the rows fetched show what is live anyway).
            if lexical_hits is not None and from_fts and by_vector:
                stale = self.keeper.stale
                lists["lexical"] = [(i, sc) for i, sc in lexical_hits if i not in stale]
            elif lexical_hits is not None:
                lists["lexical"] = lexical_hits
            fused, rows = self._live_top(db, lists, k, want, now, kinds)
        out = []
        for f in fused[:k]:
            _, text, kind, source, trusted, created_at = rows[f.id]
            out.append(Hit(f.id, text, kind, source, trusted, created_at, f.score, f.ranks))
        return out

    @staticmethod
    def _live_top(
        db: Reader,
        lists: dict[str, list[tuple[int, float]]],
        k: int,
        want: int,
        now: datetime,
        kinds: Sequence[str] | None,
    ) -> tuple[list[Fused], dict[int, Row]]:
        """Fuse the lists and fetch the rows of the fused top ``k`` only, fusing again without any found dead.

        Fetching every candidate's row cost a fifth of a hybrid search; the fused top ``k`` (and a few
        more) is what is shown. Returns the fused top (live candidates only, the lexical list cut to
        ``want``) and the rows fetched.
        """
        rows: dict[int, Row] = {}
        dead: set[int] = set()
        shown = k + (k + 1) // 2
        while True:
            live = {name: [(i, sc) for i, sc in ranked if i not in dead] for name, ranked in lists.items()}
            if "lexical" in live:
                live["lexical"] = live["lexical"][:want]  # the lexical side brought a margin
            fused = rrf(live, top=shown)
            todo = [f.id for f in fused if f.id not in rows]
            if not todo:
                return fused, rows
            found = db.live_rows(todo, now, kinds)
            rows.update(found)
            if len(found) == len(todo):  # none dead: this fusion stands
                return fused, rows
            dead.update(i for i in todo if i not in found)

    def _vector(self, query: str, want: int, min_similarity: float | None) -> list[tuple[int, float]]:
        vec = self.embedder.embed([query])[0]
        with self.keeper.lock:
            stale = self.keeper.stale
            pairs = self.keeper.index.search(vec, min(self.keeper.index.ntotal, want + len(stale)))
            return [
                (i, s) for i, s in pairs if i not in stale and (min_similarity is None or s >= min_similarity)
            ]

    def rebuild_index(self) -> int:
        """Build the vector index again from SQL (the re-indexing job); return how many vectors it holds."""
        self.keeper.rebuild()
        return int(self.keeper.index.ntotal)

    def count(self) -> int:
        """Return how many items are live (not forgotten; expiry judged at the last purge)."""
        with Session(self.engine) as s:
            q = select(func.count()).select_from(KnowledgeItem).where(col(KnowledgeItem.deleted_at).is_(None))
            return int(s.exec(q).one())


def _live(item: KnowledgeItem, now: datetime) -> bool:
    return item.deleted_at is None and (item.expires_at is None or item.expires_at > now)
