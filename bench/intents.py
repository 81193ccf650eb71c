"""Plain language without a model: accuracy on the evaluation set, and what routing a line costs.

In one process, over tests/graph/intent_eval.txt (174 labelled lines, none of them an example):
  - accuracy of the grammar alone (before) and of the grammar with intents (after): intents, slots,
    wrong amounts, lines that mean nothing refused or offered;
  - the intents' start: embedding the examples once (no cache), then loading them from the disk cache;
  - the median and p95 time to route one line: the exact grammar (the baseline, ratio 1.00) and the
    whole rule-based model with intents (embed the line, score it, fill its slots, run it through the
    grammar), on the same lines.

Run: .venv/bin/python bench/intents.py [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph import intents  # noqa: E402
from graph.intents import IntentIndex  # noqa: E402
from graph.rules import RulePlanner, parses  # noqa: E402
from graph.slots import SlotContext  # noqa: E402
from graph.understand import Understander  # noqa: E402
from memory.knowledge.embedders import UseEmbedder  # noqa: E402
from tests.graph.test_intent_eval import (  # noqa: E402
    CUSTOMERS,
    NOW,
    OPEN,
    Score,
    grammar_alone,
    load,
    with_intents,
)


def _times(fn, lines: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for line in lines:
            t = time.perf_counter()
            fn(line)
            out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    embedder = UseEmbedder(threads=args.threads)
    t = time.perf_counter()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - t
    ctx = SlotContext(now=NOW, customers=lambda: CUSTOMERS, open_invoices=lambda name: OPEN.get(name, ()))
    with tempfile.TemporaryDirectory() as tmp:
        index = IntentIndex(embedder, cache_dir=Path(tmp))
        t = time.perf_counter()
        index.matrix()
        cold_s = time.perf_counter() - t
        intents._MEMORY.clear()  # the process-wide copy: measure the disk cache alone
        t = time.perf_counter()
        IntentIndex(embedder, cache_dir=Path(tmp)).matrix()
        warm_s = time.perf_counter() - t
    planner = RulePlanner(Understander(index, lambda: ctx))

    cases = load()
    before, after = Score(), Score()
    for case in cases:
        before.add(case, grammar_alone(case))
        after.add(case, with_intents(planner, case))
    print(f"evaluation set: {len(cases)} lines ({before.nothing} that mean nothing)")
    print(before.line("grammar alone"))
    print(after.line("with intents"))
    print("mixed up most:", ", ".join(f"{a} -> {b} ×{n}" for (a, b), n in after.confusion.most_common(5)))
    print(
        f"start: model load {load_s:.2f} s; {len(index._texts)} examples embedded {cold_s * 1000:.0f} ms,"
        f" from the disk cache {warm_s * 1000:.1f} ms"
    )

    lines = [c.line for c in cases]
    base = _times(parses, lines, args.rounds)
    full = _times(planner.decide, lines, args.rounds)
    b_med, f_med = statistics.median(base), statistics.median(full)
    p95 = statistics.quantiles(full, n=20)[-1]
    print(f"{'route one line':34s} {'median ms':>10s} {'p95 ms':>8s} {'ratio':>8s}")
    print(
        f"{'exact grammar (baseline)':34s} {b_med:10.3f} {statistics.quantiles(base, n=20)[-1]:8.3f} {1:8.2f}"
    )
    print(f"{'grammar + intents (rule-based)':34s} {f_med:10.3f} {p95:8.3f} {f_med / b_med:8.0f}")


if __name__ == "__main__":
    main()
