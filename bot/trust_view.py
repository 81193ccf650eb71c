"""`/trust`: each action kind's level and numbers; `/trust set` raises a card to change a level.

The numbers are derived (memory/trust.py) from the approvals and the event log over the last 30 days.
A level changes only through a ``trust.set_level`` card an operator approves (graph/trust.py raises it):
``/trust set`` asks for that card, it does not change anything by itself.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.engine import Engine

from agents.errors import UnknownOperation
from bot.app import App
from bot.messages import Reply
from bot.render import render_all
from graph.trust import TrustKeeper, usd
from graph.trust_rules import WINDOW, HardLimits, Record
from memory import trust as store

USAGE = "Usage: /trust · /trust set <kind> ask · /trust set <kind> auto <bound, e.g. 50> · /trust set <kind> advisory"
_SET = re.compile(
    r"^set\s+(?P<kind>[a-z_]+\.[a-z_]+)\s+(?:(?P<plain>ask|advisory)|auto(?:\s+\$?(?P<bound>\d+(?:\.\d{1,2})?))?)\s*$",
    re.I,
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _level(level: store.Level | None) -> str:
    if level is None:
        return "ask"
    if level.level == "auto":
        return "auto" + (f" up to {usd(level.bound_cents)}" if level.bound_cents is not None else "")
    return level.level


def kind_line(rec: Record, level: store.Level | None) -> str:
    """Return one kind's line: level, approvals, override rate, rejects, undos, failures, time, cost."""
    return (
        f"{rec.kind}: {_level(level)} · {rec.approved} approved, {rec.override_rate:.0%} overridden "
        f"({rec.edited} edited), {rec.rejected} rejected, {rec.undone} undone, {rec.failed} failed, "
        f"{rec.auto} on auto · median decision {_duration(rec.median_decide_s)} · cost ${rec.cost_usd:.4f}"
        + (
            f" · advisory: {rec.advisory_agreed} right, {rec.advisory_disagreed} wrong ({rec.agreement_rate:.0%} agreement)"
            if rec.advisory
            else ""
        )
        + (" · disagreements: " + ", ".join(f"{what} {n}" for what, n in rec.disagreements) if rec.disagreements else "")
    )


def trust_text(db: Engine, limits: HardLimits, now: datetime | None = None) -> str:
    """Render the trust report from the database alone (``coo trust`` needs no App)."""
    keeper = TrustKeeper(db, limits)
    if now is not None:
        keeper.clock = lambda: now
    records = keeper.records()
    levels = store.current(db)
    if not records:
        return "No approvals yet in the last 30 days: every change asks first."
    lines = ["Trust per action kind (last 30 days):"]
    lines += [f"  {kind_line(r, levels.get(r.kind))}" for r in records]
    by_model = planner_line(db, keeper.clock())
    if by_model:
        lines.append(by_model)
    agents = sorted({r.kind.split(".", 1)[0] for r in records})
    cheap = [(a, c.why) for a in agents if (c := keeper.model_choice(a)).cheap]
    lines.append(
        "Model choice: " + ("; ".join(f"cheap model for {a} ({why})" for a, why in cheap) if cheap else "primary model")
        + f" · {keeper.model_choice().why}"
    )
    lines.append(
        f"Never on auto: sends to new recipients, anything from a run that read untrusted content, amounts "
        f"over {usd(limits.auto_amount_limit_cents)}, irreversible and denied actions."
    )
    return "\n".join(lines)


def trust(app: App, actor: str, args: str = "", conversation: str = "") -> list[Reply]:
    """Show each action kind's trust level and numbers, or ask to change one (``set``; operators only)."""
    args = args.strip()
    if not args:
        return [Reply(text=trust_text(app.db, app.trust.limits))]
    m = _SET.match(args)
    if m is None:
        return [Reply(text=USAGE)]
    if not app.is_operator(actor):
        return [Reply(text="Only an operator can change a trust level. Nothing was changed.")]
    if not conversation:
        return [Reply(text="Send /trust set in a chat with me: its card is posted there.")]
    kind = m["kind"].lower()
    try:
        app.registry.get(kind)
    except UnknownOperation:
        return [Reply(text=f"There is no action {kind}. `/trust` lists the kinds with a history.")]
    level = (m["plain"] or "auto").lower()
    bound: int | None = None
    if level == "auto":
        if not app.trust.limits.allows(kind):
            return [
                Reply(text=f"{kind} never runs without asking (it cannot be undone, or policy denies it).")
            ]
        if m["bound"] is not None:
            try:
                bound = int(Decimal(m["bound"]) * 100)
            except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
                return [Reply(text=USAGE)]
            if bound > app.trust.limits.auto_amount_limit_cents:
                limit = usd(app.trust.limits.auto_amount_limit_cents)
                return [
                    Reply(
                        text=f"Auto never covers more than {limit} (COO_AUTO_AMOUNT_LIMIT_USD). Nothing was changed."
                    )
                ]
    channel = conversation.partition(":")[0]
    outs = app.trust.raise_card(
        kind,
        level,
        bound,
        f"Asked for by {actor} with /trust set.",
        conversation=conversation,
        deciders=app.deciders_for(channel),
        source=f"set:{uuid.uuid4().hex}",
    )
    return render_all(outs)


def agent_line(db: Engine, limits: HardLimits) -> str | None:
    """Return /status's line: per agent, the success rate and the override rate over 30 days (None: no history)."""
    per: dict[str, list[Record]] = {}
    for rec in TrustKeeper(db, limits).records():
        per.setdefault(rec.kind.split(".", 1)[0], []).append(rec)
    if not per:
        return None
    shown = []
    for agent, recs in sorted(per.items()):
        ran = sum(r.approved + r.auto for r in recs)
        bad = sum(r.undone + r.failed for r in recs)
        cards = sum(r.cards for r in recs)
        success = f"{max(ran - bad, 0) / ran:.0%} succeeded" if ran else "nothing ran"
        override = f"{sum(r.edited for r in recs) / cards:.0%} overridden" if cards else "no cards"
        shown.append(f"{agent} {success}, {override}")
    return "Per agent, last 30 days: " + "; ".join(shown)


def planner_line(db: Engine, now: datetime) -> str | None:
    """Return which planner planned the decided cards, with each one's override rate (None: no cards)."""
    per: dict[str, list[str]] = {}
    for ob in store.observations(db, now - WINDOW, now):
        if ob.outcome in ("approved", "edited", "rejected"):
            per.setdefault(ob.model.split("+", 1)[0] or "unknown", []).append(ob.outcome)
    if not per:
        return None
    shown = [
        f"{model} {len(outs)} card{'s' if len(outs) != 1 else ''}, {outs.count('edited') / len(outs):.0%} overridden"
        for model, outs in sorted(per.items())
    ]
    return "Planned by: " + "; ".join(shown)
