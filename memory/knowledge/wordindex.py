"""The lexical side in memory (SQLite): an inverted index ranking like FTS5's ``bm25`` over ``knowledge_fts``.

FTS5's ranking looked up every matching row's length in its own tables, about 1 ms a query at 100k items
(three times the vector search). This index holds the same tokens (``porter``: FTS5's tokenizer), row
lengths and counts as ``knowledge_fts`` does, so a query finds the same rows with the same BM25 scores
(k1 1.2, b 0.75, FTS5's formula and order of operations, ties by id as FTS5 returns them).

Like the vector index it is a cache of the SQL rows, never the truth: built from SQL when the store
opens, caught up from the rows changed since (``rev`` above the generation it saw) before each search,
and nothing of it is saved. Like ``knowledge_fts`` it keeps forgotten rows (they count in the corpus
statistics, as in FTS5), but it knows them and ranks only live ones. An item's text never changes once
written (a revived item keeps its text), so a row seen again only changes whether it is live.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from memory.knowledge.porter import stem, tokenize_many
from memory.terms import terms

K1, B = 1.2, 0.75  # FTS5's bm25 defaults
ChangedRows = Callable[[int], Iterable[tuple[int, str, bool]]]  # since → (id, text, live) rows with rev > since


class _Postings:
    """One token's rows (ascending ids as they were added) and its count in each."""

    __slots__ = ("_arrays", "ids", "tfs")

    def __init__(self) -> None:
        self.ids = array("q")
        self.tfs = array("d")
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def extend(self, ids: list[int], tfs: list[int]) -> None:
        self.ids.extend(ids)
        self.tfs.extend(tfs)
        self._arrays = None

    def arrays(self, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ids, counts, ``f * (k1 + 1)`` and ``b * D``: what of bm25 depends on the rows alone.

        Args:
            length: Each row's length in tokens, by id (a row's length never changes).
        """
        if self._arrays is None:
            ids = np.array(self.ids, dtype=np.int64)
            tf = np.array(self.tfs, dtype=np.float64)
            self._arrays = (ids, tf, tf * (K1 + 1.0), B * length[ids])
        return self._arrays


@lru_cache(maxsize=4096)
def query_tokens(word: str) -> tuple[str, ...]:
    """Return the tokens FTS5 makes of one quoted query word (one, unless it has non-ASCII characters)."""
    if word.isascii():
        return (stem(word),)  # ``terms`` gives lowercase runs of ASCII letters and digits: one token
    return tuple(tokenize_many([word])[0])


class WordIndex:
    """Token → postings, and each row's length in tokens, for the rows of ``knowledge_item``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = -1
        self.postings: dict[str, _Postings] = {}
        self.n_rows = 0  # rows indexed, forgotten ones included (FTS5's row count)
        self.n_tokens = 0  # their tokens (FTS5's total, for the average length)
        self._length = np.zeros(1024, dtype=np.float64)  # by id
        self._present = np.zeros(1024, dtype=bool)  # by id: indexed
        self._dead = np.ones(1024, dtype=bool)  # by id: not indexed, or forgotten
        self._acc = np.zeros(1024, dtype=np.float64)  # by id: a search's sums (zero between searches)

    def _grow(self, top: int) -> None:
        size = len(self._length)
        if top < size:
            return
        new = max(top + 1, 2 * size)
        self._length = np.concatenate([self._length, np.zeros(new - size)])
        self._present = np.concatenate([self._present, np.zeros(new - size, dtype=bool)])
        self._dead = np.concatenate([self._dead, np.ones(new - size, dtype=bool)])
        self._acc = np.zeros(new, dtype=np.float64)

    def refresh(self, generation: int, changed: ChangedRows) -> None:
        """Catch up with the rows changed since the generation last seen, if ``generation`` moved.

        Args:
            generation: The store's generation, read before ``changed`` reads the rows.
            changed: Reads the rows with ``rev`` above a generation: (id, text, live).
        """
        if generation == self.generation:
            return
        with self.lock:
            if generation == self.generation:
                return
            rows = list(changed(self.generation))
            new = [(i, t, live) for i, t, live in rows if i >= len(self._present) or not self._present[i]]
            if rows:
                self._grow(max(i for i, _, _ in rows))
            grouped: dict[str, tuple[list[int], list[int]]] = {}
            for (id_, _, _), tokens in zip(new, tokenize_many([t for _, t, _ in new]), strict=True):
                for tok, tf in Counter(tokens).items():
                    got = grouped.get(tok)
                    if got is None:
                        got = grouped[tok] = ([], [])
                    got[0].append(id_)
                    got[1].append(tf)
                self._length[id_] = len(tokens)
                self._present[id_] = True
                self.n_rows += 1
                self.n_tokens += len(tokens)
            for tok, (ids, tfs) in grouped.items():
                p = self.postings.get(tok)
                if p is None:
                    p = self.postings[tok] = _Postings()
                p.extend(ids, tfs)
            for id_, _, live in rows:
                self._dead[id_] = not live
            self.generation = max(self.generation, generation)

    def search(self, query: str, n: int) -> list[tuple[int, float]] | None:
        """Return up to ``n`` live (id, score) pairs, best first, as FTS5's ``-bm25`` ranks them.

        None when a query word is not one token to FTS5 (a phrase, or nothing): the caller asks FTS5.
        """
        return self.search_terms(terms(query), n)

    def search_terms(self, words: list[str], n: int) -> list[tuple[int, float]] | None:
        """`search` for a query's terms (``memory.terms.terms``), as FTS5 gets them quoted and joined by OR."""
        if not words or n <= 0:
            return []
        phrases = [query_tokens(w) for w in words]
        if any(len(p) != 1 for p in phrases):
            return None
        with self.lock:
            if not self.n_rows:
                return []
            n_rows = self.n_rows
            avgdl = self.n_tokens / n_rows
            acc = self._acc
            parts = []
            try:
                for (tok,) in phrases:  # in query order: each row's sum adds up in FTS5's order
                    p = self.postings.get(tok)
                    if p is None:
                        continue
                    ids, tf, num, b_len = p.arrays(self._length)
                    hits = len(ids)
                    idf = math.log((n_rows - hits + 0.5) / (hits + 0.5))
                    if idf <= 0.0:
                        idf = 1e-6
                    # FTS5: idf * ((f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl))), summed over phrases;
                    # in place, each step as FTS5 rounds it
                    x = b_len / avgdl
                    np.add(x, 1 - B, out=x)
                    np.multiply(x, K1, out=x)
                    np.add(tf, x, out=x)
                    np.divide(num, x, out=x)
                    np.multiply(x, idf, out=x)
                    acc[ids] += x  # ids are distinct
                    parts.append(ids)
                if not parts:
                    return []
                cand = np.concatenate(parts) if len(parts) > 1 else parts[0]
                scores = acc[cand]
                acc[cand] = 0.0
            except BaseException:  # the sums must start from zero next time
                self._acc = np.zeros(len(acc))
                raise
            dead = self._dead[cand]
        if dead.any():
            live = ~dead
            cand, scores = cand[live], scores[live]
        order = np.lexsort((cand, -scores))  # best first, ties by id as FTS5 returns them
        cand, scores = cand[order], scores[order]
        if len(parts) > 1:  # a row matching several words appears once per word, side by side
            first = np.empty(len(cand), dtype=bool)
            first[:1] = True
            np.not_equal(cand[1:], cand[:-1], out=first[1:])
            cand, scores = cand[first], scores[first]
        return list(zip(cand[:n].tolist(), scores[:n].tolist(), strict=True))
