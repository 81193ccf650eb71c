"""Approval records: created once per exact action, decided once, atomically."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.contract import Action
from graph.errors import AlreadyDone, NotAllowed, NotFound
from graph.state import Decision
from memory.db import transaction
from memory.tables import Approval, utcnow


def approval_id_for(run_id: str, action: Action) -> str:
    """Return the approval id for an action in a run: deterministic, so a re-run node finds it again."""
    return "ap_" + hashlib.sha256(f"{run_id}:{action.digest()}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Decided:
    """A decision that was just recorded."""

    approval: Approval
    decision: Decision


class ApprovalStore:
    """Creates and decides approvals; a decision is a single conditional UPDATE."""

    def __init__(self, engine: Engine, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl

    def ensure(
        self, *, run_id: str, conversation: str, action: Action, reason: str, deciders: Sequence[str]
    ) -> Approval:
        """Return the approval for this exact action, creating it pending if it does not exist."""
        ap_id = approval_id_for(run_id, action)
        with transaction(self.engine) as s:
            existing = s.get(Approval, ap_id)
            if existing is not None:
                return existing
            ap = Approval(
                id=ap_id,
                run_id=run_id,
                conversation=conversation,
                action_hash=action.digest(),
                action=action.model_dump(mode="json"),
                reason=reason,
                deciders=list(deciders),
                expires_at=utcnow() + self.ttl,
            )
            s.add(ap)
        return ap

    def get(self, approval_id: str) -> Approval:
        """Return one approval or raise NotFound."""
        with Session(self.engine) as s:
            ap = s.get(Approval, approval_id)
        if ap is None:
            raise NotFound("That approval does not exist (it may be from another installation).")
        return ap

    def decide(
        self,
        approval_id: str,
        approve: bool,
        actor: str,
        now: datetime | None = None,
        also: Callable[[Session, Approval], None] | None = None,
    ) -> Decided:
        """Record a decision, once.

        ``also`` writes in the same transaction when the decision is recorded (the engine's breadcrumb).

        Raises:
            NotFound: No such approval.
            NotAllowed: The actor is not among the approval's deciders.
            AlreadyDone: It was decided before or has expired (the message says which and by whom).
        """
        now = now or utcnow()
        ap = self.get(approval_id)
        if actor not in ap.deciders:
            raise NotAllowed("You are not allowed to decide this approval.")
        new: Decision = "approved" if approve else "rejected"
        with transaction(self.engine) as s:
            changed = s.execute(
                update(Approval)
                .where(col(Approval.id) == approval_id, col(Approval.status) == "pending")
                .where(col(Approval.expires_at) > now)
                .values(status=new, decided_by=actor, decided_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if changed:  # the row is what was read with exactly these three values written: not read again
                ap.status, ap.decided_by, ap.decided_at = new, actor, now
                if also is not None:
                    also(s, ap)
            else:
                s.execute(
                    update(Approval)
                    .where(col(Approval.id) == approval_id, col(Approval.status) == "pending")
                    .values(status="expired", decided_at=now)
                )
                ap = s.get(Approval, approval_id) or ap  # as it stands now, to say who decided it first
        if not changed:
            raise AlreadyDone(describe(ap))
        return Decided(ap, new)

    def for_run(self, run_id: str) -> list[Approval]:
        """Return a run's approvals."""
        with Session(self.engine) as s:
            return list(s.exec(select(Approval).where(Approval.run_id == run_id)).all())

    def pending(self, conversation: str | None = None) -> list[Approval]:
        """Return approvals still waiting, oldest first (expired ones are left out)."""
        with Session(self.engine) as s:
            q = select(Approval).where(Approval.status == "pending", Approval.expires_at > utcnow())
            if conversation is not None:
                q = q.where(Approval.conversation == conversation)
            return list(s.exec(q.order_by(col(Approval.created_at))).all())

    def expire_overdue(self, now: datetime | None = None) -> list[Approval]:
        """Mark overdue pending approvals expired and return them."""
        now = now or utcnow()
        with transaction(self.engine) as s:
            overdue = list(
                s.exec(select(Approval).where(Approval.status == "pending", Approval.expires_at <= now)).all()
            )
            for ap in overdue:
                ap.status, ap.decided_at = "expired", now
                s.add(ap)
        return overdue

    def set_card_ref(self, approval_id: str, ref: dict[str, Any]) -> None:
        """Remember where a channel showed the card, so it can be updated in place."""
        with transaction(self.engine) as s:
            ap = s.get(Approval, approval_id)
            if ap is not None:
                ap.card_ref = {**ap.card_ref, **ref}
                s.add(ap)


def describe(ap: Approval) -> str:
    """Say in plain words what became of an approval."""
    when = ap.decided_at.strftime("%Y-%m-%d %H:%M UTC") if ap.decided_at else ""
    if ap.status == "approved":
        return f"Already approved by {ap.decided_by} at {when}."
    if ap.status == "rejected":
        return f"Already rejected by {ap.decided_by} at {when}."
    if ap.status == "expired":
        return "This approval has expired; nothing was done. Ask again if it is still wanted."
    return "This approval is still pending."
