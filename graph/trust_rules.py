"""The rules of graduated autonomy, pure: a kind's record, when to offer auto, when to take it back.

Everything here is a function of observations (``memory.trust``) and settings: no database, no clock
of its own, no model. The engine offers a promotion; only an operator's approval grants it
(``graph/trust.py``); a hard limit can never be granted away (``HardLimits``).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from memory.trust import TRUST_AGENT, Level, Observation

STREAK = 10  # consecutive unchanged approvals before coo offers auto
QUIET = timedelta(days=30)  # no undo or failure of the kind for this long
WINDOW = timedelta(days=30)  # the record's rolling window
BANDS_CENTS = (5_00, 10_00, 20_00, 50_00, 100_00, 200_00, 500_00, 1_000_00, 2_000_00, 5_000_00)


@dataclass(frozen=True)
class Record:
    """A kind's numbers over the window."""

    kind: str
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    undone: int = 0
    failed: int = 0
    auto: int = 0
    median_decide_s: float | None = None
    cost_usd: float = 0.0
    largest_cents: int | None = None  # the largest amount approved
    last_undo: datetime | None = None
    last_failure: datetime | None = None
    streak: int = 0  # unchanged approvals since the last edit, reject, undo or failure
    streak_largest_cents: int | None = None
    disagreements: tuple[tuple[str, int], ...] = ()  # what edits and rejects said was wrong, most first
    advisory_agreed: int = 0  # advisory cards the operator said were right (nothing ran)
    advisory_disagreed: int = 0  # advisory cards the operator said were wrong, or edited to what was done

    @property
    def advisory(self) -> int:
        """Return how many advisory cards the operator answered."""
        return self.advisory_agreed + self.advisory_disagreed

    @property
    def agreement_rate(self) -> float:
        """Return the share of answered advisory cards the operator agreed with."""
        return self.advisory_agreed / self.advisory if self.advisory else 0.0

    @property
    def cards(self) -> int:
        """Return how many cards the operator decided."""
        return self.approved + self.edited + self.rejected

    @property
    def override_rate(self) -> float:
        """Return the share of decided cards that were edited before approval."""
        return self.edited / self.cards if self.cards else 0.0


@dataclass(frozen=True)
class HardLimits:
    """What no history can make automatic.

    Attributes:
        auto_amount_limit_cents: ``COO_AUTO_AMOUNT_LIMIT_USD``: no bound goes above it.
        never: Kinds that always ask: irreversible operations and the trust cards themselves.
        denied: Kinds the policy denies.
    """

    auto_amount_limit_cents: int
    never: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    def allows(self, kind: str) -> bool:
        """Tell whether a kind may ever run on auto."""
        return kind not in self.never and kind not in self.denied and not kind.startswith(f"{TRUST_AGENT}.")


@dataclass(frozen=True)
class Offer:
    """A promotion the engine offers: run ``kind`` without asking, up to ``bound_cents``."""

    kind: str
    bound_cents: int | None
    record: Record


def record(
    kind: str, observations: Iterable[Observation], now: datetime, window: timedelta = WINDOW
) -> Record:
    """Return a kind's record from its observations within the window before ``now``."""
    obs = sorted(
        (o for o in observations if o.kind == kind and now - window <= o.at <= now), key=lambda o: o.at
    )
    counts = {"approved": 0, "edited": 0, "rejected": 0, "failed": 0, "auto": 0}
    undone, streak, streak_largest = 0, 0, None
    last_undo: datetime | None = None
    last_failure: datetime | None = None
    largest: int | None = None
    times: list[float] = []
    agreed = disagreed = 0
    for o in obs:
        if o.advisory:  # a shadow answer: counted apart, never a card that ran, never part of a streak
            agreed += o.outcome == "approved"
            disagreed += o.outcome != "approved"
            if o.decide_s is not None:
                times.append(o.decide_s)
            continue
        counts[o.outcome] += 1
        if o.decide_s is not None:
            times.append(o.decide_s)
        if o.outcome == "approved" and o.amount_cents is not None:
            largest = max(largest or 0, o.amount_cents)
        if o.undone_at is not None and o.undone_at <= now:
            undone += 1
            last_undo = max(last_undo or o.undone_at, o.undone_at)
        if o.outcome == "failed":
            last_failure = o.at
    # The streak counts back from the newest observation and breaks at anything not plainly approved;
    # an undo breaks it wherever it happened (it is dated by the undo, which may be later).
    for o in reversed(obs):
        if (o.outcome == "auto" and o.undone_at is None) or o.advisory:
            continue
        if (
            o.outcome != "approved"
            or o.undone_at is not None
            or (last_undo is not None and o.at <= last_undo)
        ):
            break
        streak += 1
        if o.amount_cents is not None:
            streak_largest = max(streak_largest or 0, o.amount_cents)
    said = Counter(o.disagreement for o in obs if o.disagreement)
    return Record(
        kind=kind,
        disagreements=tuple(sorted(said.items(), key=lambda kv: (-kv[1], kv[0]))),
        approved=counts["approved"],
        edited=counts["edited"],
        rejected=counts["rejected"],
        undone=undone,
        failed=counts["failed"],
        auto=counts["auto"],
        median_decide_s=statistics.median(times) if times else None,
        cost_usd=round(sum(o.cost_usd for o in obs), 6),
        largest_cents=largest,
        last_undo=last_undo,
        last_failure=last_failure,
        streak=streak,
        streak_largest_cents=streak_largest,
        advisory_agreed=agreed,
        advisory_disagreed=disagreed,
    )


def band(amount_cents: int, limit_cents: int) -> int:
    """Return the round bound that covers an amount (``$42`` -> ``$50``), never above the limit."""
    for b in BANDS_CENTS:
        if b >= amount_cents:
            return min(b, limit_cents)
    return limit_cents


def offer(
    rec: Record,
    level: Level | None,
    limits: HardLimits,
    now: datetime,
    *,
    streak: int = STREAK,
    quiet: timedelta = QUIET,
    offer_pending: bool = False,
) -> Offer | None:
    """Return the promotion to offer for a kind now, or None.

    A kind earns an offer with ``streak`` consecutive unchanged approvals (count them after the last
    offer the operator declined: ``since_offer``), no undo or failure within ``quiet``, and no hard limit in the way. The bound
    is the round amount covering the largest approved in the streak, never above the auto limit.
    """
    if not limits.allows(rec.kind) or offer_pending:
        return None
    if level is not None and level.level in ("auto", "advisory"):
        return None
    if rec.streak < streak:
        return None
    for when in (rec.last_undo, rec.last_failure):
        if when is not None and now - when < quiet:
            return None
    if rec.streak_largest_cents is None:
        bound = None
    else:
        bound = band(rec.streak_largest_cents, limits.auto_amount_limit_cents)
        if rec.streak_largest_cents > limits.auto_amount_limit_cents:
            bound = limits.auto_amount_limit_cents
    return Offer(rec.kind, bound, rec)


def covers(level: Level | None, limits: HardLimits, kind: str, amount_cents: int | None) -> bool:
    """Tell whether a granted level lets one action of ``kind`` run without asking.

    Hard limits win over any level: a kind that may never be automatic, or an amount above the auto
    limit or the granted bound, asks.
    """
    if level is None or level.level != "auto" or level.kind != kind or not limits.allows(kind):
        return False
    if amount_cents is None:
        return True
    if amount_cents > limits.auto_amount_limit_cents:
        return False
    return level.bound_cents is not None and amount_cents <= level.bound_cents


def demotes(level: Level | None, observation: Observation) -> bool:
    """Tell whether an observation takes a kind's auto level back to ask: an undo or a failure while auto."""
    if level is None or level.level != "auto" or observation.kind != level.kind:
        return False
    return observation.undone_at is not None or observation.outcome == "failed"


def since_offer(observations: Sequence[Observation], last_offer_at: datetime | None) -> list[Observation]:
    """Return the observations after the last offer (a declined offer needs a fresh streak)."""
    if last_offer_at is None:
        return list(observations)
    return [o for o in observations if o.at > last_offer_at]


def earned(
    kind: str,
    observations: Iterable[Observation],
    level: Level | None,
    limits: HardLimits,
    now: datetime,
    *,
    streak: int = STREAK,
    quiet: timedelta = QUIET,
    last_offer_closed: datetime | None = None,
    offer_pending: bool = False,
) -> Offer | None:
    """Return the offer a kind has earned now from its whole history, or None.

    The streak is counted after the last offer that was closed (declined, expired or granted); the
    quiet period and the counts look at the whole window.
    """
    obs = [o for o in observations if o.kind == kind]
    fresh = record(kind, since_offer(obs, last_offer_closed), now)
    whole = record(kind, obs, now, max(WINDOW, quiet))
    rec = replace(whole, streak=fresh.streak, streak_largest_cents=fresh.streak_largest_cents)
    return offer(rec, level, limits, now, streak=streak, quiet=quiet, offer_pending=offer_pending)


CHEAP_LAST = 30  # the runs each model's override rate is judged on
CHEAP_MARGIN = 0.05  # the cheap model may override this much more often and still be chosen
CHEAP_MIN = 10  # the cheap model needs this many decided runs before it can be judged


@dataclass(frozen=True)
class ModelChoice:
    """Whether the cheap model plans an agent's requests, and the override rates it was judged on."""

    cheap: bool
    primary_rate: float | None
    cheap_rate: float | None
    why: str


def _rate(obs: Sequence[Observation], rung: str, last: int) -> tuple[float | None, int]:
    runs: dict[str, bool] = {}
    for o in sorted((o for o in obs if o.rung == rung), key=lambda o: o.at):
        runs[o.run_id] = runs.get(o.run_id, False) or o.outcome in ("edited", "rejected")
    judged = list(runs.values())[-last:]
    return (sum(judged) / len(judged) if judged else None), len(judged)


def model_choice(
    observations: Iterable[Observation],
    agent: str | None = None,
    *,
    last: int = CHEAP_LAST,
    margin: float = CHEAP_MARGIN,
    minimum: int = CHEAP_MIN,
) -> ModelChoice:
    """Choose the cheap model for an agent when its override rate is no worse than the primary's.

    A run counts as overridden when a card of it was edited or rejected. Each model is judged on its
    last ``last`` decided runs of the agent (all agents when ``agent`` is None); the cheap one needs
    ``minimum`` of them, and the primary at least one, to compare. When the cheap model's overrides
    rise above the primary's by more than ``margin``, the primary plans again.
    """
    obs = [
        o for o in observations
        if o.outcome in ("approved", "edited", "rejected") and (agent is None or o.kind.startswith(f"{agent}."))
    ]
    primary, n_primary = _rate(obs, "primary", last)
    cheap, n_cheap = _rate(obs, "cheap", last)
    if cheap is None or n_cheap < minimum or primary is None:
        return ModelChoice(False, primary, cheap, f"too few runs to compare ({n_cheap} cheap, {n_primary} primary)")
    if cheap <= primary + margin:
        return ModelChoice(True, primary, cheap, f"cheap model overrides {cheap:.0%} vs primary {primary:.0%}")
    return ModelChoice(False, primary, cheap, f"cheap model overrides {cheap:.0%} vs primary {primary:.0%}")
