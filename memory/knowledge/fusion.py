"""Reciprocal rank fusion: merge ranked lists without comparing their incomparable scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very top ranks


@dataclass(frozen=True)
class Fused:
    """One id's fused score and where it stood in each list (rank from 1, and that list's score)."""

    id: int
    score: float
    ranks: dict[str, tuple[int, float]] = field(default_factory=dict)


def rrf(
    lists: Mapping[str, Sequence[tuple[int, float]]], k: int = RRF_K, top: int | None = None
) -> list[Fused]:
    """Fuse named ranked lists of (id, score) into one list, best first (ties broken by id, newest first).

    Args:
        lists: Each list's name (``vector``, ``lexical``) and its (id, score) pairs, best first.
        k: The RRF constant.
        top: Only the first ``top`` of the fused list (all when None).
    """
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, tuple[int, float]]] = {}
    for name, ranked in lists.items():
        for rank, (id_, score) in enumerate(ranked, start=1):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(id_, {})[name] = (rank, score)
    order = sorted(scores, key=lambda i: (-scores[i], -i))[:top]
    return [Fused(i, scores[i], ranks[i]) for i in order]
