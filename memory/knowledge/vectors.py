"""The vector side: a FAISS HNSW index keyed by SQL ids, saved atomically to one file.

The index is a cache of the SQL rows, never the truth: it may hold ids that were since forgotten
(callers filter hits through SQL) and may lack rows written after it was saved (the store catches it
up). No pickles: the file is FAISS's own binary format.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

log = logging.getLogger(__name__)


class VectorIndex:
    """An ``IndexIDMap2`` over ``IndexHNSWFlat`` with inner-product (cosine on unit vectors) metric.

    Attributes:
        path: Where the index is saved.
        ids: The ids currently in the index.
    """

    def __init__(self, path: Path, *, m: int = 32, ef_construction: int = 80, ef_search: int = 96) -> None:
        self.path = path
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.ids: set[int] = set()
        self._index: faiss.IndexIDMap2 | None = None

    @property
    def ntotal(self) -> int:
        """Return how many vectors the index holds."""
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def dim(self) -> int | None:
        """Return the dimension, or None before the first vector."""
        return None if self._index is None else int(self._index.d)

    @property
    def faiss_index(self) -> faiss.Index | None:
        """Return the underlying FAISS index (for benchmarks against raw FAISS)."""
        return self._index

    def _tune(self) -> None:
        assert self._index is not None
        hnsw: Any = faiss.downcast_index(self._index.index)
        hnsw.hnsw.efSearch = self.ef_search

    def reset(self) -> None:
        """Drop every vector (the next add decides the dimension)."""
        self._index = None
        self.ids = set()

    def load(self, dim: int | None = None) -> bool:
        """Load the saved index; False when it is missing, unreadable or of another dimension."""
        if not self.path.exists():
            return False
        try:
            index = faiss.read_index(str(self.path))
        except RuntimeError as exc:
            log.warning("knowledge index %s is unreadable (%s); it will be rebuilt", self.path, exc)
            return False
        if not isinstance(index, faiss.IndexIDMap2) or (dim is not None and index.d != dim):
            log.warning("knowledge index %s is not the expected kind; it will be rebuilt", self.path)
            return False
        self._index = index
        self.ids = set(faiss.vector_to_array(index.id_map).tolist())
        self._tune()
        return True

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Add vectors under their ids (ids already present are skipped)."""
        keep = [i for i, id_ in enumerate(ids) if id_ not in self.ids]
        if not keep:
            return
        vecs = np.ascontiguousarray(vectors[keep], dtype=np.float32)
        if self._index is None:
            hnsw = faiss.IndexHNSWFlat(vecs.shape[1], self.m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = self.ef_construction
            self._index = faiss.IndexIDMap2(hnsw)
            self._tune()
        new_ids = np.asarray([ids[i] for i in keep], dtype=np.int64)
        self._index.add_with_ids(vecs, new_ids)
        self.ids.update(new_ids.tolist())

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` (id, inner product) pairs, best first."""
        if self._index is None or self.ntotal == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        # One query gains nothing from OpenMP, and FAISS's idle OpenMP threads spin afterwards, starving
        # the Python work around each search on small machines (measured: 3-7x slower end to end).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(query, k)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self) -> None:
        """Write the index to its file atomically: a crash leaves the old file or the new one, whole."""
        if self._index is None:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
