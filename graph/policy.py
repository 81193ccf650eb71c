"""Policy, in code and outside the model: per action, run, ask or deny. Deny beats ask beats run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from agents.contract import Action, SideEffect
from graph.state import Verdict
from graph.trust_rules import HardLimits, covers
from memory.trust import ADVISORY_PREFIX, TRUST_AGENT, Level

Trust = Literal["ask", "auto"]
Check = Callable[[Action], "tuple[Verdict, str] | None"]
"""An extra rule: look at one action and vote (``("ask", "why")``, ``("deny", "why")``) or abstain (None).

Checks are how connectors add their own limits (recipient allowlists, URL allowlists) without the
policy knowing each one; they may read the workspace (the composition root gives them what they need).
A check can only make a verdict stricter: the strictest vote still wins."""
_RANK: dict[Verdict, int] = {"run": 0, "ask": 1, "deny": 2}


@dataclass(frozen=True)
class PolicyDecision:
    """A verdict and the reasons that led to it."""

    verdict: Verdict
    reason: str
    advisory: bool = False  # ask the operator whether coo was right; never execute (``Policy.decide``)


@dataclass(frozen=True)
class Policy:
    """The operator's rules.

    Attributes:
        trust: Per action (``agent.operation``), ``auto`` to run writes without asking. Default ask.
        auto_amount_limit_cents: Auto-approval never covers amounts above this.
        hard_amount_limit_cents: Amounts above this are denied outright.
        denied: Actions that are never allowed.
        checks: Extra rules that vote on every action (see ``Check``).
        learned: The level an operator granted a kind from its history (``graph/trust.py``), read per
            action; it can only widen ask to run within its bound, and every other rule still votes.
            ``advisory`` narrows instead: the kind's writes never run, whatever else voted (a shadow).
    """

    trust: Mapping[str, Trust] = field(default_factory=dict)
    auto_amount_limit_cents: int = 100_00
    hard_amount_limit_cents: int = 1_000_000_00
    denied: frozenset[str] = frozenset()
    checks: tuple[Check, ...] = ()
    learned: Callable[[str], Level | None] | None = None

    def hard_limits(self) -> HardLimits:
        """Return what no granted level can make automatic."""
        return HardLimits(self.auto_amount_limit_cents, denied=frozenset(self.denied))

    def _learned_auto(self, action: Action) -> tuple[bool, Level | None]:
        level = self.learned(action.name) if self.learned is not None else None
        return covers(level, self.hard_limits(), action.name, action.amount_cents), level

    def decide(self, action: Action) -> PolicyDecision:
        """Decide one action; every rule votes and the strictest vote wins."""
        votes: list[tuple[Verdict, str]] = []
        read = action.side_effect is SideEffect.REVERSIBLE  # the level is read once, here, when it matters
        learned_ok, learned = self._learned_auto(action) if read else (False, None)
        if action.name in self.denied:
            votes.append(("deny", f"{action.name} is not allowed by policy"))
        if action.amount_cents is not None and action.amount_cents > self.hard_amount_limit_cents:
            votes.append(("deny", "amount is above the hard limit"))
        if action.side_effect is SideEffect.READ:
            votes.append(("run", "read-only"))
        elif action.side_effect is SideEffect.IRREVERSIBLE:
            votes.append(("ask", "irreversible actions always need approval"))
        elif action.agent == TRUST_AGENT:
            votes.append(("ask", "a trust level changes only by an operator's approval"))
        elif self.trust.get(action.name) == "auto" or learned_ok:
            if action.amount_cents is not None and action.amount_cents > self.auto_amount_limit_cents:
                votes.append(("ask", "amount is above the auto-approval limit"))
            elif action.untrusted_source:
                votes.append(("ask", "the run has read untrusted content"))
            else:
                votes.append(("run", "trusted to run automatically"))
        elif learned is not None and learned.level == "auto" and learned.bound_cents is not None:
            votes.append(("ask", f"amount is above the {_usd(learned.bound_cents)} {action.name} may do unasked"))
        else:
            votes.append(("ask", "changes need approval"))
        extra = [vote for check in self.checks if (vote := check(action)) is not None]
        verdict, reason = max(votes + extra, key=lambda v: _RANK[v[0]])
        # A check's reason is more specific than a built-in rule's ("new recipient: …" over
        # "irreversible actions always need approval"): it is the one given when they agree.
        reason = next((r for v, r in extra if v == verdict), reason)
        if verdict != "deny" and action.side_effect is not SideEffect.READ and self._advisory(action, (learned,) if read else None):
            # Shadow mode: coo says what it would have done and asks whether that was right; the
            # execute node never performs an advisory proposal, approved or not.
            return PolicyDecision("ask", f"{ADVISORY_PREFIX}coo would {_clause(action.summary)} — did you do this?", True)
        return PolicyDecision(verdict, reason)

    def _advisory(self, action: Action, known: tuple[Level | None] | None = None) -> bool:
        """Whether the kind is in advisory mode (``known``: its level as already read by ``decide``)."""
        if self.learned is None or action.agent == TRUST_AGENT:
            return False
        level = known[0] if known is not None else self.learned(action.name)
        return level is not None and level.level == "advisory" and level.kind == action.name


def _clause(summary: str) -> str:
    return summary[:1].lower() + summary[1:] if summary[1:2].islower() else summary


def _usd(cents: int) -> str:
    return f"${cents / 100:,.2f}".replace(".00", "")


def allowlist(action_name: str, argument: str, allowed: Iterable[str], what: str) -> Check:
    """Return a check that denies ``action_name`` unless its ``argument`` is one of ``allowed``.

    E.g. ``allowlist("webhooks.post", "target", {"crm"}, "webhook target")``: a target the operator did
    not configure (a URL a model or a payload made up) is denied, never asked.
    """
    names = frozenset(allowed)
    listed = ", ".join(sorted(names)) or "none"

    def check(action: Action) -> tuple[Verdict, str] | None:
        if action.name != action_name:
            return None
        value = str(action.arguments.get(argument, ""))
        if value in names:
            return None
        shown = value if len(value) <= 60 else value[:57] + "..."
        return ("deny", f"{what} {shown!r} is not configured (configured: {listed})")

    return check
