"""Keep the FAISS index in step with the SQL rows it is derived from.

On open the index file is loaded (or rebuilt when it is missing, unreadable, or from another
embedder) and reconciled with SQL by comparing ids; afterwards every search first reads the store's
generation and, if it moved, adds the rows changed since. A crash between a SQL commit and an index
update therefore loses nothing: the next open or search finds the row in SQL and adds its vector.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, Table, and_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from memory.db import transaction
from memory.knowledge.embedders import Embedder
from memory.knowledge.tables import KnowledgeItem, KnowledgeMeta
from memory.knowledge.vectors import VectorIndex
from memory.tables import utcnow

log = logging.getLogger(__name__)

ITEMS: Table = KnowledgeItem.__table__  # type: ignore[attr-defined]
META: Table = KnowledgeMeta.__table__  # type: ignore[attr-defined]
T, M = ITEMS.c, META.c
PAGE = 2000
GENERATION = select(M.generation).where(M.id == "default")  # built once: a search reads it every time


def fingerprint(embedder: Embedder) -> str:
    """Return a short stable tag for an embedder's name and version."""
    return hashlib.sha256(f"{embedder.name}\0{embedder.version}".encode()).hexdigest()[:12]


def as_vector(blob: bytes) -> np.ndarray:
    """Return a stored vector as float32."""
    return np.frombuffer(blob, dtype="<f4")


class IndexKeeper:
    """Owns the in-memory index of one store and the file it is saved to."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        directory: Path,
        *,
        hnsw_m: int = 32,
        ef_search: int = 96,
        compact_ratio: float = 0.25,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.directory = directory
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.compact_ratio = compact_ratio
        self.lock = threading.RLock()
        self.generation = -1
        self.stale: set[int] = set()
        self.index = VectorIndex(directory / "unopened.faiss")
        self.dirty = False

    def _current(self) -> tuple[ColumnElement[bool], ...]:
        return (
            T.embed_model == self.embedder.name,
            T.embed_version == self.embedder.version,
            T.vector.is_not(None),
        )

    def read_generation(self, conn: Connection | None = None) -> int:
        """Return the store's generation as committed now (on ``conn`` when given)."""
        if conn is not None:
            return int(conn.execute(GENERATION).scalar_one())
        with self.engine.connect() as own:
            return int(own.execute(GENERATION).scalar_one())

    def open(self, store_id: str) -> None:
        """Re-embed rows from another embedder, then load or rebuild the index and reconcile it."""
        with self.lock:
            self.reembed()
            name = f"index-{store_id[:12]}-{fingerprint(self.embedder)}.faiss"
            self.index = VectorIndex(self.directory / name, m=self.hnsw_m, ef_search=self.ef_search)
            for old in self.directory.glob(f"index-{store_id[:12]}-*.faiss"):
                if old.name != name:
                    log.info("removing knowledge index %s of a previous embedder", old.name)
                    old.unlink(missing_ok=True)
            if self.index.load():
                self.reconcile()
            else:
                self.rebuild()

    def reembed(self, batch: int = 256) -> int:
        """Embed again every row whose vector came from another embedder; return how many."""
        done = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(T.id, T.text).where(~and_(*self._current())).order_by(T.id).limit(batch)
                ).all()
            if not rows:
                break
            vectors = self.embedder.embed([r.text for r in rows])
            with transaction(self.engine) as s:
                gen = bump(s)
                for r, vec in zip(rows, vectors, strict=True):
                    s.execute(
                        update(ITEMS)
                        .where(T.id == r.id)
                        .values(
                            vector=vec.astype("<f4").tobytes(),
                            embed_model=self.embedder.name,
                            embed_version=self.embedder.version,
                            rev=gen,
                        )
                    )
            done += len(rows)
        if done:
            log.info(
                "re-embedded %d knowledge items with %s %s", done, self.embedder.name, self.embedder.version
            )
        with transaction(self.engine) as s:
            s.execute(
                update(META)
                .where(M.id == "default")
                .values(
                    embed_model=self.embedder.name, embed_version=self.embedder.version, updated_at=utcnow()
                )
            )
        return done

    def _live_pages(self, ids: list[int] | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
        """Yield (ids, vectors) pages of live rows from the current embedder (all, or the given ids)."""
        cond = and_(T.deleted_at.is_(None), *self._current())
        if ids is not None:
            for i in range(0, len(ids), PAGE):
                yield from self._page(and_(cond, T.id.in_(ids[i : i + PAGE])))
            return
        last = 0
        while True:
            page = list(self._page(and_(cond, T.id > last), limit=PAGE))
            if not page:
                return
            yield page[0]
            last = page[0][0][-1]

    def _page(self, cond: object, limit: int | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
        with self.engine.connect() as conn:
            q = select(T.id, T.vector).where(cond).order_by(T.id)  # type: ignore[arg-type]
            rows = conn.execute(q.limit(limit) if limit else q).all()
        if rows:
            yield [int(r.id) for r in rows], np.stack([as_vector(r.vector) for r in rows])

    def rebuild(self) -> None:
        """Build the index again from SQL alone, then save it."""
        with self.lock:
            gen = self.read_generation()
            self.index.reset()
            self.stale = set()
            for ids, vecs in self._live_pages():
                self.index.add(ids, vecs)
            self.generation = gen
            self.index.save()
            self.dirty = False
            log.info("knowledge index rebuilt from SQL: %d vectors", self.index.ntotal)

    def reconcile(self) -> None:
        """Compare the loaded index's ids with SQL: add what is missing, mark what is gone as stale."""
        with self.lock:
            gen = self.read_generation()
            with self.engine.connect() as conn:
                live = {
                    int(i)
                    for i in conn.execute(
                        select(T.id).where(T.deleted_at.is_(None), *self._current())  # type: ignore[arg-type]
                    ).scalars()
                }
            missing = sorted(live - self.index.ids)
            for ids, vecs in self._live_pages(missing):
                self.index.add(ids, vecs)
            self.stale = self.index.ids - live
            self.generation = gen
            self.dirty = bool(missing)
            if missing:
                log.info("knowledge index caught up %d vectors from SQL", len(missing))
            self._maybe_compact()

    def refresh(self, conn: Connection | None = None, generation: int | None = None) -> None:
        """Catch up with rows changed since the last look (by this or any other process).

        Args:
            conn: An open connection to read on, else one is taken from the pool.
            generation: The store's generation as just read (a search's own), else it is read.
        """
        gen = self.read_generation(conn) if generation is None else generation
        if gen == self.generation:
            return
        with self.lock:
            since = self.generation
            q = select(T.id, T.deleted_at, T.embed_model, T.embed_version, T.vector).where(T.rev > since)
            if conn is not None:
                rows = conn.execute(q).all()
            else:
                with self.engine.connect() as own:
                    rows = own.execute(q).all()
            current = (self.embedder.name, self.embedder.version)
            add_ids, add_vecs = [], []
            for r in rows:
                if (
                    r.deleted_at is None
                    and r.vector is not None
                    and (r.embed_model, r.embed_version) == current
                ):
                    add_ids.append(int(r.id))
                    add_vecs.append(as_vector(r.vector))
                    self.stale.discard(int(r.id))
                elif r.id in self.index.ids:
                    self.stale.add(int(r.id))
            if add_ids:
                self.index.add(add_ids, np.stack(add_vecs))
                self.dirty = True
            self.generation = max(self.generation, gen)
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        if len(self.stale) > max(64, self.compact_ratio * self.index.ntotal):
            log.info(
                "compacting knowledge index: %d of %d vectors are stale", len(self.stale), self.index.ntotal
            )
            self.rebuild()

    def save(self) -> None:
        """Save the index if it changed since it was loaded or last saved."""
        with self.lock:
            if self.dirty:
                self.index.save()
                self.dirty = False


def bump(session: Session) -> int:
    """Advance the store's generation inside the caller's transaction and return the new value.

    The UPDATE takes the meta row's lock until the transaction ends, so generations commit in order; it
    returns the new value itself (one statement).
    """
    stmt = update(META).where(M.id == "default").values(generation=M.generation + 1)  # type: ignore[arg-type]
    return int(session.execute(stmt.returning(M.generation)).scalar_one())
