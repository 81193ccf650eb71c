"""What each action kind's history was, read from the approvals, the runs and the event log.

Nothing here is stored twice: an observation is derived from the approval the operator decided (its
time to decision, whether an edit replaced it), the effect event it produced (and the compensation
that undid it), and the execute step's breadcrumb (which says when an action failed). Only the levels
the operator granted are stored (``memory.trust_tables``), append-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.tables import Approval, Event, Run, Spend
from memory.trust_tables import TrustLevel

Outcome = Literal["approved", "edited", "rejected", "auto", "failed"]
LevelName = Literal["advisory", "ask", "auto"]
TRUST_AGENT = "trust"  # the trust cards' own operations: never counted, never promoted
TRUST_RUN_PREFIX = "run_trust_"  # the runs that raise trust cards (graph/trust.py)
EDIT_PREFIX = "edit of "  # the input of the run an edited card became (graph/engine.py ``revise``)
ADVISORY_PREFIX = "Advisory: "  # the reason of an advisory card (graph/policy.py): coo proposed, did nothing


@dataclass(frozen=True)
class Observation:
    """One thing that happened to one action of a kind.

    Attributes:
        kind: ``agent.operation``.
        at: When it was decided (or, for ``auto`` and ``failed``, done).
        outcome: ``approved`` unchanged, ``edited`` before approval (an override), ``rejected``,
            ``auto`` (ran without a card) or ``failed``.
        amount_cents: The money it moved, if any.
        decide_s: Seconds from card to decision (cards only).
        undone_at: When its effect was undone, if it was.
        cost_usd: The model cost of the run that proposed it.
        model: Which planner planned that run.
        run_id: That run.
    """

    kind: str
    at: datetime
    outcome: Outcome
    amount_cents: int | None = None
    decide_s: float | None = None
    undone_at: datetime | None = None
    cost_usd: float = 0.0
    model: str = ""
    run_id: str = ""
    disagreement: str = ""  # for an edit or a reject: what was wrong (``classify``)
    rung: str = ""  # which ladder rung planned its run: primary, cheap, cache, rules
    advisory: bool = False  # an advisory card: approved means the operator agreed; nothing ran


@dataclass(frozen=True)
class Level:
    """The level in force for one kind."""

    kind: str
    level: LevelName
    bound_cents: int | None = None
    reason: str = ""
    by: str = ""
    at: datetime | None = None


def _kind(action: dict[str, Any]) -> str:
    return f"{action.get('agent', '')}.{action.get('operation', '')}"


def _approval_of(kind: str) -> Any:
    """The SQL condition that an approval is of ``kind`` (its action's agent and operation)."""
    agent, _, operation = kind.partition(".")
    action = Approval.__table__.c.action  # type: ignore[attr-defined]
    return and_(action["agent"].as_string() == agent, action["operation"].as_string() == operation)


def approved_since(db: Engine, kind: str, since: datetime) -> int:
    """Return how many cards of ``kind`` were approved after ``since`` (the most a streak can count)."""
    with Session(db) as s:
        q = select(func.count()).select_from(Approval)
        q = q.where(Approval.status == "approved", col(Approval.decided_at) > since, _approval_of(kind))
        return int(s.exec(q).one())


def observations(
    db: Engine, since: datetime, until: datetime | None = None, *, kind: str | None = None
) -> list[Observation]:
    """Return every observation from ``since`` (to ``until``), oldest first; of one ``kind`` when given.

    A kind's approvals and effects are picked in SQL (an approval's decision reads them for its kind
    alone); the execute steps, which say what failed, are read for every kind.
    """
    with Session(db) as s:
        apq = select(Approval).where(
            col(Approval.status).in_(("approved", "rejected")), col(Approval.decided_at) >= since
        )
        effect_q = col(Event.kind) == "effect"
        if kind is not None:
            apq = apq.where(_approval_of(kind))
            effect_q = and_(effect_q, col(Event.action) == kind)
        aps = list(s.exec(apq).all())
        # Effects, and the execute steps' breadcrumbs (which say what failed); not the other steps.
        evq = select(Event).where(
            or_(effect_q, and_(col(Event.kind) == "step", col(Event.action) == "execute")),
            col(Event.at) >= since,
        )
        events = list(s.exec(evq).all())
        comps = {
            e.compensates: e.at
            for e in s.exec(select(Event).where(Event.kind == "compensation", col(Event.at) >= since)).all()
        }
        run_ids = {a.run_id for a in aps} | {e.run_id for e in events}
        runs = {r.id: r for r in s.exec(select(Run).where(col(Run.id).in_(run_ids))).all()} if run_ids else {}
        # An advisory card's edit is recorded as a run of its own with no card (what the operator did).
        for r in s.exec(select(Run).where(col(Run.input).startswith(EDIT_PREFIX), col(Run.created_at) >= since)):
            runs.setdefault(r.id, r)
        rungs = (
            {sp.run_id: sp.rung for sp in s.exec(select(Spend).where(col(Spend.run_id).in_(run_ids))).all()}
            if run_ids
            else {}
        )
    if until is not None:
        aps = [a for a in aps if a.decided_at is not None and a.decided_at <= until]
        events = [e for e in events if e.at <= until]
    edits = {
        r.input[len(EDIT_PREFIX) :].split(":", 1)[0]: r.input for r in runs.values() if r.input.startswith(EDIT_PREFIX)
    }
    edited = set(edits)
    effects = {e.idempotency_key: e for e in events if e.kind == "effect"}
    carded = {str(a.action.get("idempotency_key")) for a in aps}
    out: list[Observation] = []

    def run_facts(run_id: str) -> tuple[float, str]:
        run = runs.get(run_id)
        return (run.cost_usd, run.planner) if run is not None else (0.0, "")

    for a in aps:
        a_kind = _kind(a.action)
        if a_kind.startswith(f"{TRUST_AGENT}."):
            continue
        run = runs.get(a.run_id)
        if run is not None and run.input.startswith(EDIT_PREFIX) and a.status == "approved":
            continue  # the edit's own card: the override is counted once, on the card it replaced
        outcome: Outcome = (
            "approved" if a.status == "approved" else "edited" if a.id in edited else "rejected"
        )
        effect = effects.get(str(a.action.get("idempotency_key")))
        assert a.decided_at is not None
        cost, model = run_facts(a.run_id)
        out.append(
            Observation(
                kind=a_kind,
                at=a.decided_at,
                outcome=outcome,
                amount_cents=a.action.get("amount_cents"),
                decide_s=(a.decided_at - a.created_at).total_seconds(),
                undone_at=comps.get(effect.id) if effect is not None else None,
                cost_usd=cost,
                model=model,
                run_id=a.run_id,
                rung=rungs.get(a.run_id, ""),
                advisory=a.reason.startswith(ADVISORY_PREFIX),
                disagreement=classify(a.action.get("arguments") or {}, edits.get(a.id))
                if outcome != "approved"
                else "",
            )
        )
    for e in events:
        if (
            e.kind == "effect"
            and e.idempotency_key not in carded
            and not e.action.startswith(f"{TRUST_AGENT}.")
        ):
            cost, model = run_facts(e.run_id)
            amount = e.payload.get("amount_cents")
            out.append(
                Observation(
                    kind=e.action,
                    at=e.at,
                    outcome="auto",
                    amount_cents=amount if isinstance(amount, int) else None,
                    undone_at=comps.get(e.id),
                    cost_usd=cost,
                    model=model,
                    run_id=e.run_id,
                )
            )
        elif e.kind == "step" and e.action == "execute":
            for r in (e.payload.get("update") or {}).get("results") or []:
                if isinstance(r, dict) and r.get("ok") is False:
                    cost, model = run_facts(e.run_id)
                    out.append(
                        Observation(kind=str(r.get("key", "")), at=e.at, outcome="failed", run_id=e.run_id)
                    )
    return sorted((o for o in out if kind is None or o.kind == kind), key=lambda o: o.at)


_RECIPIENT = {"to", "recipient", "customer", "customer_id", "email", "name", "company"}
_DATE = ("date", "due", "when", "start", "end", "at")


def classify(proposed: dict[str, Any], edit_input: str | None) -> str:
    """Say what the operator disagreed with: a reject is ``not wanted``; an edit, what it changed.

    Args:
        proposed: The arguments coo proposed.
        edit_input: The input of the run the edit became (``edit of ap_…: kind {arguments}``), or None
            for a plain reject.
    """
    if edit_input is None:
        return "not wanted"
    try:
        edited = json.loads(edit_input.split(" ", 4)[4])
    except (IndexError, ValueError):
        return "wrong details"
    changed = {k for k in set(proposed) | set(edited) if str(proposed.get(k)) != str(edited.get(k))}
    if "amount" in changed:
        return "wrong amount"
    if changed & _RECIPIENT:
        return "wrong recipient or customer"
    if any(k.startswith(_DATE) or k.endswith(_DATE) for k in changed):
        return "wrong date"
    return "wrong details"


def current(db: Engine, kinds: Iterable[str] | None = None) -> dict[str, Level]:
    """Return the level in force per kind (the latest row of each); kinds never set are absent."""
    with Session(db) as s:
        q = select(TrustLevel).order_by(col(TrustLevel.id))
        if kinds is not None:
            q = q.where(col(TrustLevel.kind).in_(list(kinds)))
        rows = s.exec(q).all()
    levels: dict[str, Level] = {}
    for r in rows:
        levels[r.kind] = Level(r.kind, r.level, r.bound_cents, r.reason, r.by, r.at)  # type: ignore[arg-type]
    return levels


def level_of(db: Engine, kind: str) -> Level | None:
    """Return the level in force for one kind, or None when it was never set."""
    with Session(db) as s:
        row = s.exec(
            select(TrustLevel).where(TrustLevel.kind == kind).order_by(col(TrustLevel.id).desc())
        ).first()
    if row is None:
        return None
    return Level(row.kind, row.level, row.bound_cents, row.reason, row.by, row.at)  # type: ignore[arg-type]


def add_level(
    s: Session,
    *,
    kind: str,
    level: LevelName,
    bound_cents: int | None,
    reason: str,
    by: str,
    source: str,
    at: datetime | None = None,
) -> TrustLevel:
    """Append a level change inside the caller's transaction and return it."""
    row = TrustLevel(
        kind=kind, level=level, bound_cents=bound_cents, reason=reason[:500], by=by, source=source
    )
    if at is not None:
        row.at = at
    s.add(row)
    s.flush()
    return row


def record_once(db: Engine, **change: Any) -> bool:
    """Append a level change unless one with the same ``source`` exists; tell whether it was added."""
    try:
        with transaction(db) as s:
            if s.exec(select(TrustLevel).where(TrustLevel.source == change["source"])).first() is not None:
                return False
            add_level(s, **change)
        return True
    except IntegrityError:
        return False


def offers(db: Engine, kind: str) -> list[Approval]:
    """Return the trust cards raised for a kind (any status), oldest first."""
    with Session(db) as s:
        q = select(Approval).where(col(Approval.run_id).startswith(TRUST_RUN_PREFIX))
        rows = s.exec(q.order_by(col(Approval.created_at))).all()
    return [
        a
        for a in rows
        if a.action.get("agent") == TRUST_AGENT and (a.action.get("arguments") or {}).get("kind") == kind
    ]
