"""Graduated autonomy at run time: offer auto when a kind has earned it, take it back when it slips.

The engine calls this after a decision (``after_decision``: may raise a ``trust.set_level`` card), after
an undo (``after_undo``) and after a run (``after_run``): an undo or a failure of an action that ran on
auto returns its kind to ask, with a notice saying why. The rules are ``graph/trust_rules.py``'s; the
numbers come from the approvals and the event log (``memory/trust.py``). Nothing here reads a model's
output: the card is raised by this code, shaped by the history, and decided only by an operator.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine
from sqlmodel import Session, select

from graph import outcomes as o
from graph.request import Request
from graph.state import Preset, RunState
from graph.trust_rules import (
    QUIET,
    STREAK,
    WINDOW,
    HardLimits,
    ModelChoice,
    Offer,
    Record,
    earned,
    model_choice,
    record,
)
from memory import trust as store
from memory.tables import Approval, Event, utcnow

SET_LEVEL = f"{store.TRUST_AGENT}.set_level"
CHOICE_TTL_S = 60.0  # how long a model choice is kept before the history is read again
COO = "coo"  # the actor of the runs that raise trust cards (it decides nothing: deciders are operators)


def usd(cents: int) -> str:
    """Return cents as dollars, whole when whole (``$50``)."""
    return f"${cents / 100:,.2f}".removesuffix(".00")


def evidence(rec: Record) -> str:
    """Say what the offer rests on: counts, the largest amount approved, the last undo."""
    parts = [
        f"Last 30 days: {rec.approved} approved unchanged ({rec.streak} in a row), {rec.edited} edited, "
        f"{rec.rejected} rejected, {rec.undone} undone, {rec.failed} failed."
    ]
    if rec.largest_cents is not None:
        parts.append(f"Largest approved: {usd(rec.largest_cents)}.")
    parts.append(f"Last undo: {rec.last_undo:%Y-%m-%d}." if rec.last_undo else "Last undo: never.")
    return " ".join(parts)


@dataclass
class TrustKeeper:
    """Offers promotions and makes demotions for the engine (see the module's docstring).

    Attributes:
        db: The workspace database.
        limits: What no level can make automatic.
        streak: Consecutive unchanged approvals that earn an offer.
        offers: Whether coo offers auto at all (``COO_TRUST_STREAK=0``: never; then no history is read
            for an offer after a decision).
        quiet: No undo or failure of the kind for this long before an offer.
        clock: The time now (a test's fake clock).
        submit: The engine's ``submit`` (set by ``bind``): raises a card as a run of its own.
    """

    db: SqlEngine
    limits: HardLimits
    streak: int = STREAK
    offers: bool = True
    quiet: timedelta = QUIET
    clock: Callable[[], datetime] = utcnow
    submit: Callable[[Request, str], list[o.Outcome]] | None = None
    choice_ttl_s: float = CHOICE_TTL_S
    _choices: dict[str | None, tuple[float, str]] = field(default_factory=dict)

    def model_choice(self, agent: str | None = None) -> ModelChoice:
        """Return whether the cheap model plans an agent's requests (all agents' when None), and why."""
        now = self.clock()
        return model_choice(store.observations(self.db, now - WINDOW, now), agent)

    def prefer_cheap(self, agents: tuple[str, ...] | None) -> str:
        """Return why the cheap model plans a request routed to ``agents`` ("" when the primary should).

        The ladder asks before every planning call; the answer is kept for a minute per agent.
        """
        agent = agents[0] if agents is not None and len(agents) == 1 else None
        now = time.monotonic()
        kept = self._choices.get(agent)
        if kept is None or now - kept[0] >= self.choice_ttl_s:
            choice = self.model_choice(agent)
            kept = self._choices[agent] = (now, choice.why if choice.cheap else "")
        return kept[1]

    def level(self, kind: str) -> store.Level | None:
        """Return the level in force for a kind (policy's ``learned``)."""
        return store.level_of(self.db, kind)

    def records(self, kinds: Iterable[str] | None = None) -> list[Record]:
        """Return every kind's record over the window (those with any history, and ``kinds``)."""
        now = self.clock()
        obs = store.observations(self.db, now - WINDOW, now)
        names = sorted({ob.kind for ob in obs} | set(kinds or ()) | set(store.current(self.db)))
        return [record(k, obs, now) for k in names if not k.startswith(f"{store.TRUST_AGENT}.")]

    def due_offer(self, kind: str) -> Offer | None:
        """Return the offer a kind has earned now, or None (pending or declined offers counted)."""
        if not self.offers:
            return None
        now = self.clock()
        level = self.level(kind)
        cards = store.offers(self.db, kind)
        pending = any(a.status == "pending" and a.expires_at > now for a in cards)
        if pending or not self.limits.allows(kind) or (level is not None and level.level in ("auto", "advisory")):
            return None  # no history earns an offer here: don't read it (every approval asks)
        closed = [a.decided_at or a.created_at for a in cards if a.status != "pending"]
        since = now - max(WINDOW, self.quiet)
        if store.approved_since(self.db, kind, max([since, *closed])) < self.streak:
            return None  # too few approvals since the last offer for any streak: one count, not the history
        obs = store.observations(self.db, since, now, kind=kind)
        return earned(
            kind,
            obs,
            level,
            self.limits,
            now,
            streak=self.streak,
            quiet=self.quiet,
            last_offer_closed=max(closed) if closed else None,
            offer_pending=pending,
        )

    def after_decision(self, ap: Approval) -> list[o.Outcome]:
        """Raise the promotion card a decision may have earned for its kind (in the card's conversation)."""
        kind = f"{ap.action.get('agent')}.{ap.action.get('operation')}"
        if self.submit is None or kind.startswith(f"{store.TRUST_AGENT}.") or ap.status != "approved":
            return []
        earned = self.due_offer(kind)
        if earned is None:
            return []
        return self.raise_card(
            kind,
            "auto",
            earned.bound_cents,
            evidence(earned.record),
            conversation=ap.conversation,
            deciders=list(ap.deciders),
            source=ap.id,
        )

    def raise_card(
        self,
        kind: str,
        level: str,
        bound_cents: int | None,
        why: str,
        *,
        conversation: str,
        deciders: list[str],
        source: str,
    ) -> list[o.Outcome]:
        """Raise a ``trust.set_level`` card as a run of coo's own, once per ``source``."""
        assert self.submit is not None
        args: dict[str, Any] = {
            "kind": kind,
            "level": level,
            "bound_cents": bound_cents,
            "evidence": why[:600],
        }
        req = Request(
            channel=conversation.partition(":")[0] or "console",
            conversation=conversation,
            actor=COO,
            text=f"trust: {kind} {level}" + (f" up to {usd(bound_cents)}" if bound_cents is not None else ""),
            deciders=tuple(deciders),
            preset=(Preset(key=SET_LEVEL, arguments=args),),
        )
        run_id = store.TRUST_RUN_PREFIX + hashlib.sha256(f"{kind}:{level}:{source}".encode()).hexdigest()[:24]
        return self.submit(req, run_id)

    def after_undo(self, event_id: str) -> list[o.Outcome]:
        """Return an auto kind to ask when one of its auto actions was undone."""
        with Session(self.db) as s:
            ev = s.exec(select(Event).where(Event.id == event_id)).first()
        if ev is None or not self._was_auto(ev.run_id, ev.idempotency_key):
            return []
        why = f"its action was undone ({str(ev.payload.get('text', ''))[:80]})"
        return self._demote(ev.action, why, f"demote:undo:{event_id}")

    def after_run(self, run_id: str, state: RunState | None = None) -> list[o.Outcome]:
        """Return an auto kind to ask when one of its auto actions failed in this run.

        Args:
            run_id: The run.
            state: Where the drive that just ended left the run: its results and carded proposals are
                taken from it. None (recovery, a drive that raised): read from the run's execute steps
                and approvals. Either way a failure demotes once (``record_once`` by run and kind).
        """
        failed = self._failures(run_id) if state is None or state.run_id != run_id else [
            (r.key, r.text)
            for r in state.results
            if not r.ok and r.key not in {p.action.name for p in state.proposals if p.approval_id and p.action}
        ]
        out: list[o.Outcome] = []
        for key, text in failed:
            why = f"its action failed ({text[:80]})"
            out += self._demote(key, why, f"demote:fail:{run_id}:{key}")
        return out

    def _failures(self, run_id: str) -> list[tuple[str, str]]:
        """Return (kind, text) of a run's failed actions that ran without a card, from the database."""
        with Session(self.db) as s:
            steps = s.exec(
                select(Event).where(Event.run_id == run_id, Event.kind == "step", Event.action == "execute")
            ).all()
            carded = {
                f"{a.action.get('agent')}.{a.action.get('operation')}"
                for a in s.exec(select(Approval).where(Approval.run_id == run_id)).all()
            }
        return [
            (str(r.get("key")), str(r.get("text", "")))
            for step in steps
            for r in (step.payload.get("update") or {}).get("results") or []
            if isinstance(r, dict) and r.get("ok") is False and r.get("key") not in carded
        ]

    def _was_auto(self, run_id: str, key: str) -> bool:
        with Session(self.db) as s:
            aps = s.exec(select(Approval).where(Approval.run_id == run_id)).all()
        return all(a.action.get("idempotency_key") != key for a in aps)

    def _demote(self, kind: str, why: str, source: str) -> list[o.Outcome]:
        level = self.level(kind)
        if level is None or level.level != "auto":
            return []
        added = store.record_once(
            self.db,
            kind=kind,
            level="ask",
            bound_cents=None,
            reason=why,
            by=COO,
            source=source,
            at=self.clock(),
        )
        if not added:
            return []
        return [o.Say(f"{kind} asks first again: {why}. Every {kind} now needs your approval.")]


def never_auto(operations: Iterable[Any]) -> frozenset[str]:
    """Return the kinds that may never run on auto: irreversible operations (``agents.contract.Operation``)."""
    return frozenset(op.key for op in operations if str(op.side_effect) == "irreversible")
