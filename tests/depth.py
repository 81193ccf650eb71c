"""How deep the property-based fuzzers go: their full depth in CI, a fifth of it on a developer's run.

The fuzzers' cost is mostly Hypothesis generating and shrinking inputs (a profile of the HTTP fuzzers:
about half of their time), so depth is the only lever on it. A developer's `./dev test` runs each
property on a fifth of the examples, which keeps the command near ten minutes so that it is run often;
CI (``CI=true``, as `.ci/run` sets) runs them all, and so does anyone who sets ``COO_FUZZ_DEEP=1``.
"""

from __future__ import annotations

import os

_YES = ("1", "true", "yes")
DEEP = os.environ.get("CI", "").lower() in _YES or os.environ.get("COO_FUZZ_DEEP", "").lower() in _YES


def examples(full: int) -> int:
    """Return how many examples a property runs: ``full`` when deep, else a fifth of it."""
    return full if DEEP else max(1, full // 5)
