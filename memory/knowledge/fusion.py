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
    get = scores.get
    for ranked in lists.values():
        for at, (id_, _) in enumerate(ranked, start=k + 1):  # at = k + rank
            scores[id_] = get(id_, 0.0) + 1.0 / at
    # The ranks of the ids kept only: a hybrid search keeps 8 of some 60.
    order = sorted(scores, key=lambda i: (-scores[i], -i))[:top]
    ranks: dict[int, dict[str, tuple[int, float]]] = {i: {} for i in order}
    for name, ranked in lists.items():
        for rank, (id_, score) in enumerate(ranked, start=1):
            kept = ranks.get(id_)
            if kept is not None:
                kept[name] = (rank, score)
    return [Fused(i, scores[i], ranks[i]) for i in order]
