"""A history of actions replayed against the trust rules on a fake clock (tests and bench/trust.py).

Each step is one proposed action: its kind, amount, whether its run read untrusted content, what the
operator does with its card (approve, edit, reject), and whether it is undone or fails afterwards. The
simulation applies exactly the rules the engine applies (``graph.trust_rules``: ``covers`` decides auto,
``earned`` decides offers, ``demotes`` decides demotions), records what happened and when, and counts
the prompts the operator answered and any effect outside a granted bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from graph.trust_rules import HardLimits, covers, demotes, earned
from memory.trust import Level, Observation

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
Answer = Literal["approve", "edit", "reject"]


@dataclass(frozen=True)
class Step:
    """One proposed action on a day of the history."""

    day: int
    kind: str
    amount_cents: int | None = None
    answer: Answer = "approve"
    undo: bool = False
    fail: bool = False
    untrusted: bool = False
    minute: int = 0


@dataclass
class Month:
    """The replay's state and what it saw.

    Attributes:
        limits: The hard limits.
        graduated: False: always ask (the baseline); True: offers, grants and demotions happen.
        accept: Whether the operator approves the offers (a function of the offer's kind and bound).
        streak: Unchanged approvals in a row that earn an offer.
    """

    limits: HardLimits
    graduated: bool = True
    accept: bool = True
    streak: int = 10
    observations: list[Observation] = field(default_factory=list)
    levels: dict[str, Level] = field(default_factory=dict)
    closed: dict[str, datetime] = field(default_factory=dict)
    events: list[tuple[int, str, str, int | None]] = field(default_factory=list)  # (day, what, kind, bound)
    prompts: int = 0  # cards the operator answered: actions and trust offers
    auto_runs: int = 0
    outside_bounds: int = 0

    def play(self, steps: list[Step]) -> Month:
        """Replay steps in order of time."""
        for step in sorted(steps, key=lambda s: (s.day, s.minute)):
            self.act(step)
        return self

    def act(self, step: Step) -> None:
        """Replay one action."""
        now = START + timedelta(days=step.day, minutes=step.minute)
        level = self.levels.get(step.kind)
        if self.graduated and not step.untrusted and covers(level, self.limits, step.kind, step.amount_cents):
            self.auto_runs += 1
            self._check_bound(step, level)
            ob = Observation(
                step.kind,
                now,
                "failed" if step.fail else "auto",
                step.amount_cents,
                undone_at=now + timedelta(minutes=30) if step.undo and not step.fail else None,
            )
            self.observations.append(ob)
            if demotes(level, ob):
                self.levels[step.kind] = Level(
                    step.kind, "ask", None, "undone" if step.undo else "failed", "coo", now
                )
                self.events.append((step.day, "demote", step.kind, None))
            return
        self.prompts += 1
        outcome = {"approve": "approved", "edit": "edited", "reject": "rejected"}[step.answer]
        done = step.answer != "reject"
        self.observations.append(
            Observation(
                step.kind,
                now,
                outcome,
                step.amount_cents,
                decide_s=60.0,  # type: ignore[arg-type]
                undone_at=now + timedelta(minutes=30) if step.undo and done and not step.fail else None,
            )
        )
        if step.fail and done:
            self.observations.append(Observation(step.kind, now, "failed"))
        if not self.graduated or step.answer != "approve":
            return
        offer = earned(
            step.kind,
            self.observations,
            level,
            self.limits,
            now,
            streak=self.streak,
            last_offer_closed=self.closed.get(step.kind),
        )
        if offer is None:
            return
        self.prompts += 1  # the trust card is a prompt too
        self.closed[step.kind] = now
        self.events.append((step.day, "offer", step.kind, offer.bound_cents))
        if self.accept:
            self.levels[step.kind] = Level(step.kind, "auto", offer.bound_cents, "granted", "operator", now)
            self.events.append((step.day, "grant", step.kind, offer.bound_cents))

    def _check_bound(self, step: Step, level: Level | None) -> None:
        """Count an auto effect that no grant covers (judged apart from ``covers``: must stay 0)."""
        if (
            level is None
            or level.level != "auto"
            or step.untrusted
            or not self.limits.allows(step.kind)
            or (
                step.amount_cents is not None
                and (
                    level.bound_cents is None
                    or step.amount_cents > level.bound_cents
                    or step.amount_cents > self.limits.auto_amount_limit_cents
                )
            )
        ):
            self.outside_bounds += 1


EXPENSE, TASK, INCOME, SEND = (
    "bookkeeping.record_expense",
    "tasks.add_task",
    "bookkeeping.record_income",
    "outreach.send_email",
)
LIMITS = HardLimits(100_00, never=frozenset({SEND}))


def scripted_month() -> list[Step]:
    """Return the scripted 30 days: expenses earn auto and lose it; tasks are edited, then earn it.

    - expenses, $12 to $41.50, approved days 1–10: offer on day 10 up to $50, granted; days 11–15 run
      on auto; day 16's $80 asks (above the bound); day 17's is undone: demoted; days 18–29 approved
      again, but the undo is recent: no second offer within 30 days of it;
    - tasks: day 3's card is edited, so the streak restarts: days 4–13 approved: offer on day 13 (no
      amount: no bound), granted; a task fails on day 20: demoted;
    - incomes, $10, approved days 1–10: offer on day 10 up to $10, granted; from day 11 they come
      from runs that read untrusted content, which ask every time whatever the level;
    - emails: irreversible: approved every day, never offered.
    """
    steps: list[Step] = []
    amounts = [12_00, 30_00, 41_50, 18_00, 22_00, 9_00, 35_00, 27_00, 14_00, 40_00]
    for day, amount in enumerate(amounts, start=1):
        steps.append(Step(day, EXPENSE, amount))
    for day in range(11, 16):
        steps.append(Step(day, EXPENSE, 20_00))
    steps.append(Step(16, EXPENSE, 80_00))
    steps.append(Step(17, EXPENSE, 25_00, undo=True))
    for day in range(18, 30):
        steps.append(Step(day, EXPENSE, 15_00))
    steps.append(Step(1, TASK, minute=5))
    steps.append(Step(2, TASK, minute=5))
    steps.append(Step(3, TASK, answer="edit", minute=5))
    for day in range(4, 14):
        steps.append(Step(day, TASK, minute=5))
    for day in range(14, 30):
        steps.append(Step(day, TASK, minute=5, fail=day == 20))
    for day in range(1, 30):
        steps.append(Step(day, INCOME, 10_00, untrusted=day > 10, minute=10))
        steps.append(Step(day, SEND, minute=15))
    return steps


KINDS_FOR_BENCH = [EXPENSE, EXPENSE, EXPENSE, TASK, TASK, INCOME, SEND]
