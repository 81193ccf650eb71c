"""The trust agent: the card that changes an action kind's level, and the digest's "ran without asking".

Its one operation, ``trust.set_level``, is not offered to planners: no model can propose it. The
engine raises it (``graph/trust.py``) when a kind has earned auto, and ``/trust set`` raises it for the
operator; policy always asks for it (``graph/policy.py``) and only an operator decides the card. Its
effect appends a row to the level history (``memory.trust_tables``); its Undo appends the level before.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from agents.contract import ExecContext, Operation, Outcome, SideEffect
from agents.errors import Refusal
from agents.spec import DIGEST_LINES, AgentSpec, Deps, DigestDay, DigestPart, DigestSection, more_lines
from memory import trust as trust_store
from memory.tables import Approval, Event
from memory.trust_tables import TrustLevel

AGENT = trust_store.TRUST_AGENT
KIND_PATTERN = r"^[a-z_]+\.[a-z_]+$"


class LevelArgs(BaseModel):
    """A level for one kind: ``auto`` up to ``bound_cents`` (None: it moves no money), ``ask`` or ``advisory``."""

    kind: str = Field(pattern=KIND_PATTERN, max_length=80)
    level: Literal["advisory", "ask", "auto"]
    bound_cents: int | None = Field(default=None, ge=0)
    evidence: str = Field(default="", max_length=600)


def usd(cents: int) -> str:
    """Return cents as whole dollars when they are whole (``$50``), else with cents."""
    return f"${cents / 100:,.2f}".removesuffix(".00")


def describe(kind: str, level: str, bound_cents: int | None) -> str:
    """Return a level in words: ``auto up to $50``, ``ask``, ``advisory``."""
    if level == "auto":
        return "auto" + (f" up to {usd(bound_cents)}" if bound_cents is not None else "")
    return level


def _summary(a: LevelArgs) -> str:
    if a.level == "auto":
        up_to = f" up to {usd(a.bound_cents)}" if a.bound_cents is not None else ""
        return f"Do {a.kind}{up_to} without asking?"
    if a.level == "advisory":
        return f"Put {a.kind} in advisory mode?"
    return f"Ask before every {a.kind} again?"


def _changes(a: LevelArgs) -> str:
    lines = [f"{a.kind}: level becomes {describe(a.kind, a.level, a.bound_cents)}."]
    if a.level == "auto":
        lines.append("Each one still posts Done with Undo; an undo or a failure returns it to ask.")
    if a.evidence:
        lines.append(a.evidence)
    return "\n".join(lines)


def _approver(s: Session, run_id: str) -> str:
    """Return the operator who approved this run's trust card (the level's author, not the run's actor)."""
    for ap in s.exec(select(Approval).where(Approval.run_id == run_id, Approval.status == "approved")).all():
        if ap.action.get("agent") == AGENT and ap.decided_by:
            return ap.decided_by
    raise Refusal("A trust level changes only by an operator's approval.")


def _execute(ctx: ExecContext, a: LevelArgs) -> Outcome:
    by = _approver(ctx.session, ctx.run_id)
    before = _level_in(ctx.session, a.kind)
    trust_store.add_level(
        ctx.session,
        kind=a.kind,
        level=a.level,
        bound_cents=a.bound_cents if a.level == "auto" else None,
        reason=f"approved by {by}",
        by=by,
        source=ctx.idempotency_key,
    )
    text = f"{a.kind} is now {describe(a.kind, a.level, a.bound_cents)}."
    return Outcome(
        text=text, payload={"kind": a.kind, "level": a.level}, compensation={"kind": a.kind, **before}
    )


def _level_in(s: Session, kind: str) -> dict[str, Any]:
    row = s.exec(
        select(TrustLevel).where(TrustLevel.kind == kind).order_by(col(TrustLevel.id).desc())
    ).first()
    return {"level": row.level if row else "ask", "bound_cents": row.bound_cents if row else None}


def _compensate(ctx: ExecContext, comp: dict[str, Any]) -> Outcome:
    kind, level, bound = comp["kind"], comp["level"], comp.get("bound_cents")
    trust_store.add_level(
        ctx.session,
        kind=kind,
        level=level,
        bound_cents=bound,
        reason=f"undone by {ctx.actor}",
        by=ctx.actor,
        source=ctx.idempotency_key,
    )
    return Outcome(text=f"{kind} is back to {describe(kind, level, bound)}.")


SET_LEVEL: Operation[LevelArgs] = Operation(
    agent=AGENT,
    name="set_level",
    description="Change how much an action kind may do without asking (operator approval only).",
    args=LevelArgs,
    side_effect=SideEffect.REVERSIBLE,
    summarize=_summary,
    changes=_changes,
    execute=_execute,
    compensate=_compensate,
    offered=False,  # never the model's: the engine and /trust raise it
)


def ran_on_auto(db: Any) -> DigestSection:
    """Return the digest's section listing what ran without a card on the digest's day."""

    def collect(day: DigestDay) -> DigestPart:
        first = datetime.combine(day.day, time(0), day.tz)
        last = first + timedelta(days=1)
        with Session(db) as s:
            effects = s.exec(
                select(Event)
                .where(Event.kind == "effect", col(Event.at) >= first, col(Event.at) < last)
                .order_by(col(Event.seq))
            ).all()
            carded = (
                {
                    str(a.action.get("idempotency_key"))
                    for a in s.exec(
                        select(Approval).where(col(Approval.run_id).in_({e.run_id for e in effects}))
                    ).all()
                }
                if effects
                else set()
            )
            undone = {
                e.compensates
                for e in s.exec(
                    select(Event).where(Event.kind == "compensation", col(Event.at) >= first)
                ).all()
            }
        auto = [
            e for e in effects if e.idempotency_key not in carded and not e.action.startswith(f"{AGENT}.")
        ]
        if not auto:
            return DigestPart([])
        shown = auto[:DIGEST_LINES]
        lines = [f"Ran without asking: {len(auto)}"]
        lines += [
            f"  • {e.action}: {str(e.payload.get('text', ''))[:100]}"
            + (" (undone)" if e.id in undone else "")
            for e in shown
        ]
        lines += more_lines(len(shown), len(auto))
        return DigestPart(lines, [f"{len(auto)} actions ran without asking"])

    return DigestSection("Ran without asking", collect)


def spec(deps: Deps, config: Any = None) -> AgentSpec:
    """Return the trust agent: the level card's operation and the digest's auto section."""
    return AgentSpec(
        name=AGENT,
        operations=(SET_LEVEL,),
        digest=(ran_on_auto(deps.db),) if deps.db is not None else (),
    )
