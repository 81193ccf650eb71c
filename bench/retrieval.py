"""Retrieval through our interface against raw FAISS, on the same vectors, measured in one run.

100k items with clustered synthetic 384-d vectors (a stand-in embedder maps each text to its vector,
so no model time is counted) are stored through KnowledgeStore (SQLite, FTS5, FAISS HNSW M=32).
Prints the median top-5 query latency (the three paths interleaved query by query) of:
  - raw FAISS: the store's own HNSW index searched directly (the baseline, ratio 1.00);
  - our interface, vector only: generation check + FAISS + SQL fetch/filter of the hits;
  - our interface, hybrid: the above + BM25 (FTS5's, ranked in memory) + reciprocal rank fusion;
and recall@5 of the HNSW index (raw and through our interface) against exact search (IndexFlatIP).

Run: .venv/bin/python bench/retrieval.py [--n 100000] [--dim 384] [--queries 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.db import make_engine, transaction  # noqa: E402
from memory.knowledge.embedders import normalise  # noqa: E402
from memory.knowledge.store import KnowledgeStore  # noqa: E402


class LookupEmbedder:
    """Returns the precomputed vector of each known text."""

    name, version = "bench-lookup", "1"

    def __init__(self) -> None:
        self.table: dict[str, np.ndarray] = {}

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def clustered(
    n: int, dim: int, clusters: int, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, n)
    return normalise(centers[labels] + spread * rng.standard_normal((n, dim)).astype(np.float32)), labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--omp-threads", type=int, default=1, help="FAISS threads while querying")
    ap.add_argument("--spread", type=float, default=2.0, help="noise around each cluster centre, relative")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(5000)]
    pick = random.Random(7)

    vectors, labels = clustered(args.n + args.queries, args.dim, 1000, args.spread, rng)
    emb = LookupEmbedder()
    texts = [f"item {i} topic{labels[i]} " + " ".join(pick.sample(words, 6)) for i in range(args.n)]
    queries = [f"topic{labels[args.n + j]} " + " ".join(pick.sample(words, 3)) for j in range(args.queries)]
    for t, v in zip(texts + queries, vectors, strict=True):
        emb.table[t] = v

    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.sqlite")
        t0 = time.perf_counter()
        store = KnowledgeStore(db, emb, Path(tmp) / "knowledge").open()
        for i in range(0, args.n, 5000):
            with transaction(db) as s:
                store.remember_many(s, texts[i : i + 5000])
        t_insert = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.keeper.refresh()  # builds the HNSW graph from the committed rows
        t_index = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.refresh_words()  # the in-memory word index (SQLite's lexical side) catches up likewise
        t_words = time.perf_counter() - t0
        raw = store.keeper.index.faiss_index
        assert raw is not None and raw.ntotal == args.n

        qvecs = vectors[args.n :]

        # One query at a time is one thread's work; OpenMP's threads only add wake-ups, which on a busy
        # machine swamp the search itself (the build above keeps every thread).
        faiss.omp_set_num_threads(args.omp_threads)
        for j in range(20):  # warm caches on every path alike
            raw.search(qvecs[j : j + 1], 5)
            store.search(queries[j], k=5)
        # Interleaved, query by query: a load that comes and goes weighs on every path alike. The path
        # that goes first meets the query's part of the HNSW graph cold in the CPU caches, so each path
        # goes first for a third of the queries (raw always first made raw look slower than ours).
        base, hybrid, vec_only = [], [], []
        for j in range(args.queries):
            paths = [
                (base, lambda j=j: raw.search(qvecs[j : j + 1], 5)),
                (hybrid, lambda j=j: store.search(queries[j], k=5)),
                (vec_only, lambda j=j: store.search(queries[j], k=5, mode="vector")),
            ]
            for out, fn in paths[j % 3 :] + paths[: j % 3]:
                t = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t)

        # recall@5 against exact inner-product search over the same vectors
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(vectors[: args.n])
        _, exact = flat.search(qvecs, 5)
        ids_of = np.asarray(sorted(store.keeper.index.ids), dtype=np.int64)  # SQL ids in insert order
        _, approx = raw.search(qvecs, 5)
        raw_recall = np.mean([len(set(approx[j]) & set(ids_of[exact[j]])) / 5 for j in range(args.queries)])
        ours = [{h.id for h in store.search(queries[j], k=5, mode="vector")} for j in range(args.queries)]
        our_recall = np.mean([len(ours[j] & set(ids_of[exact[j]])) / 5 for j in range(args.queries)])
        store.close()
        db.dispose()

    med = {k: statistics.median(v) * 1000 for k, v in {"raw": base, "vec": vec_only, "hyb": hybrid}.items()}
    print(
        f"items {args.n} x {args.dim}-d (1000 clusters, spread {args.spread}), {args.queries} queries, top-5; "
        f"SQLite + FTS5, HNSW M=32 efSearch=96, {args.omp_threads} FAISS thread(s) while querying"
    )
    print(f"store: insert {t_insert:.1f} s, index build {t_index:.1f} s, word index {t_words:.1f} s")
    print(f"raw FAISS HNSW search          median {med['raw']:7.3f} ms   ratio 1.00")
    print(f"our interface, vector only     median {med['vec']:7.3f} ms   ratio {med['vec'] / med['raw']:.2f}")
    print(f"our interface, hybrid (+BM25)  median {med['hyb']:7.3f} ms   ratio {med['hyb'] / med['raw']:.2f}")
    print(f"recall@5 vs exact search: raw HNSW {raw_recall:.3f}, our interface (vector) {our_recall:.3f}")


if __name__ == "__main__":
    main()
