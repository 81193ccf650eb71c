"""Graduated autonomy over a scripted 30 days: prompts the operator answered, always-ask against earned trust.

The history (tests/trust/month.py ``scripted_month``: expenses, tasks, webhook incomes and emails, with
an edit, an undo, a failure and untrusted runs) is replayed twice through the same trust rules the
engine applies (graph/trust_rules.py): once with every write asking (the baseline), once with offers
granted by the operator, auto within the granted bounds and automatic demotion. It prints the prompts
answered in each, the ratio, what ran on auto, the offers and demotions by day, and the effects outside
a granted bound, which must be 0. Then the same over 200 random months (seeded) for the bound check,
and the cheap model's share of 200 planning calls without and with the choice by override rate
(graph/trust_rules.py ``model_choice``), on simulated override rates.

Run: .venv/bin/python bench/trust.py
"""

from __future__ import annotations

import random
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.trust_rules import model_choice  # noqa: E402
from memory.trust import Observation  # noqa: E402
from tests.trust.month import KINDS_FOR_BENCH, LIMITS, START, Month, Step, scripted_month  # noqa: E402


def random_month(rng: random.Random) -> list[Step]:
    """Return a random month: each day a few actions of random kinds, amounts, answers and mishaps."""
    steps = []
    for day in range(30):
        for minute in range(rng.randint(1, 8)):
            steps.append(
                Step(
                    day,
                    rng.choice(KINDS_FOR_BENCH),
                    rng.choice([None, rng.randint(1_00, 150_00)]),
                    rng.choices(["approve", "edit", "reject"], [90, 6, 4])[0],  # type: ignore[arg-type]
                    undo=rng.random() < 0.02,
                    fail=rng.random() < 0.01,
                    untrusted=rng.random() < 0.1,
                    minute=minute,
                )
            )
    return steps


def cheap_share(rng: random.Random, runs: int = 200) -> tuple[float, float]:
    """Return the cheap model's share of planning calls without and with the choice by override rate."""
    rates = {"primary": 0.08, "cheap": 0.10}
    forced = set(rng.sample(range(runs), 15))  # days the budget was tight
    shares = []
    for select in (False, True):
        history: list[Observation] = []
        cheap = 0
        for i in range(runs):
            rung = "cheap" if i in forced or (select and model_choice(history).cheap) else "primary"
            cheap += rung == "cheap"
            outcome = "edited" if rng.random() < rates[rung] else "approved"
            history.append(
                Observation(
                    "bookkeeping.record_expense",
                    START + timedelta(hours=i),
                    outcome,  # type: ignore[arg-type]
                    run_id=f"r{i}",
                    rung=rung,
                )
            )
        shares.append(cheap / runs)
    return shares[0], shares[1]


def main() -> None:
    """Replay the scripted month both ways, then random months; print the figures."""
    history = scripted_month()
    always = Month(LIMITS, graduated=False).play(history)
    graduated = Month(LIMITS).play(history)
    print(f"scripted 30 days: {len(history)} proposed actions")
    print(f"  prompts answered, always ask:        {always.prompts}")
    print(
        f"  prompts answered, graduated autonomy: {graduated.prompts}  ({graduated.prompts / always.prompts:.2f}x)"
    )
    print(f"  ran on auto (each with Done + Undo):  {graduated.auto_runs}")
    for day, what, kind, bound in graduated.events:
        shown = "" if bound is None else f" up to ${bound / 100:,.2f}"
        print(f"    day {day:2}: {what:6} {kind}{shown}")
    print(f"  effects outside granted bounds:       {graduated.outside_bounds}  (must be 0)")
    rng = random.Random(19)
    asked = prompts = auto = outside = 0
    for _ in range(200):
        month = random_month(rng)
        asked += Month(LIMITS, graduated=False).play(month).prompts
        g = Month(LIMITS).play(month)
        prompts, auto, outside = prompts + g.prompts, auto + g.auto_runs, outside + g.outside_bounds
    print(
        f"200 random months: prompts {asked} always-ask -> {prompts} graduated ({prompts / asked:.2f}x); "
        f"{auto} ran on auto; outside bounds {outside} (must be 0)"
    )
    before, after = cheap_share(random.Random(7))
    print(
        f"cheap model's share of planning calls: {before:.0%} before selection by override rate -> {after:.0%} after "
        "(200 runs; overrides: primary 8%, cheap 10%; the budget forces the cheap model on 15 of them)"
    )
    if graduated.outside_bounds or outside:
        raise SystemExit("effects outside the granted bounds")


if __name__ == "__main__":
    main()
