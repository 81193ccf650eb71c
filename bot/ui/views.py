"""What the web console's pages show, read from the workspace (the same records `coo trace` reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.app import App
from bot.render import approval_card
from bot.runs_view import step_of
from graph import outcomes as o
from memory import eventlog, retrievals
from memory.tables import Approval, Event, Run, Spend

STATUSES = ("failed", "waiting", "running", "done", "retried")


@dataclass
class CardView:
    """An approval as the chat shows it, plus what the web needs (its conversation, its edit form)."""

    approval_id: str
    title: str
    fields: list[tuple[str, str]]
    footer: str
    conversation: str
    run_id: str


def inbox(app: App) -> list[CardView]:
    """Return the pending approvals, oldest first, with the same card content as in chat."""
    out = []
    with Session(app.db) as s:
        homes = {
            a.id: (a.conversation, a.run_id)
            for a in s.exec(select(Approval).where(col(Approval.status) == "pending")).all()
        }
    for ask in app.engine.pending():
        card = approval_card(ask)
        conversation, run_id = homes.get(ask.approval_id, ("", ""))
        out.append(CardView(ask.approval_id, card.title, card.fields, card.footer, conversation, run_id))
    return out


@dataclass
class RunRow:
    """One line of the runs list."""

    id: str
    created_at: datetime
    status: str
    channel: str
    agents: list[str]
    cost_usd: float
    seconds: float | None
    input: str
    error: str | None


def _agents(s: Session, run_ids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {r: set() for r in run_ids}
    if not run_ids:
        return found
    for run_id, action in s.exec(
        select(Approval.run_id, Approval.action).where(col(Approval.run_id).in_(run_ids))
    ).all():
        if action.get("agent"):
            found[run_id].add(action["agent"])
    for run_id, name in s.exec(
        select(Event.run_id, Event.action).where(
            col(Event.run_id).in_(run_ids), col(Event.kind) == "effect", col(Event.action) != ""
        )
    ).all():
        found[run_id].add(name.split(".", 1)[0])
    for run_id, agent in s.exec(
        select(Spend.run_id, Spend.agent).where(col(Spend.run_id).in_(run_ids), col(Spend.agent) != "planner")
    ).all():
        found[run_id].add(agent)
    return found


def runs(
    app: App,
    *,
    status: str = "",
    agent: str = "",
    channel: str = "",
    since: date | None = None,
    until: date | None = None,
    limit: int = 200,
) -> list[RunRow]:
    """Return runs matching the filters: failed first, then newest first."""
    q = select(Run)
    if status:
        q = q.where(col(Run.status) == status)
    if channel:
        q = q.where(col(Run.channel) == channel)
    if since:
        q = q.where(col(Run.created_at) >= datetime.combine(since, time.min, tzinfo=UTC))
    if until:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
        q = q.where(col(Run.created_at) < end)
    q = q.order_by(col(Run.created_at).desc()).limit(limit * 5 if agent else limit)
    with Session(app.db) as s:
        rows = s.exec(q).all()
        agents = _agents(s, [r.id for r in rows])
    out = []
    for r in rows:
        if agent and agent not in agents[r.id]:
            continue
        took = (r.finished_at - r.created_at).total_seconds() if r.finished_at else None
        out.append(
            RunRow(
                r.id,
                r.created_at,
                r.status,
                r.channel,
                sorted(agents[r.id]),
                r.cost_usd,
                took,
                r.input,
                r.error,
            )
        )
    out.sort(key=lambda x: (x.status != "failed", -x.created_at.timestamp()))
    return out[:limit]


def filter_choices(app: App) -> tuple[list[str], list[str]]:
    """Return the channels and agents the filters offer."""
    with Session(app.db) as s:
        channels = sorted(c for c in s.exec(select(Run.channel).distinct()).all() if c)
    agents = sorted({op.key.split(".", 1)[0] for op in app.registry.offered()})
    return channels, agents


@dataclass
class Row:
    """One line of a run's timeline."""

    at: datetime
    kind: str
    text: str
    details: list[str] = field(default_factory=list)


@dataclass
class Checkpoint:
    """A checkpoint of the run's graph: the step that would run next from it."""

    step: str
    at: str
    checkpoint_id: str


@dataclass
class RunView:
    """One run: its record, timeline and checkpoints."""

    run: Run
    rows: list[Row]
    checkpoints: list[Checkpoint]
    calls: int
    undoable: list[str]


def _step(payload: dict[str, Any]) -> tuple[str, list[str]]:
    step = step_of(payload)
    bits = [f"planner and prompt version: {step.planner}"] if step.planner is not None else []
    bits += [f"model {m}: {i} tokens in, {o} out, ${c:.5f}" for m, i, o, c in step.usage]
    bits += [f"verdict {v}: {k} {args} {why}".rstrip() for v, k, args, why in step.proposals]
    bits += [f"decision {ap_id}: {d}" for ap_id, d in step.decisions]
    bits += [("result ok: " if ok else "result FAILED: ") + text for ok, text in step.results]
    if step.reply:
        bits.append(f"reply: {step.reply[:200]}")
    if step.error:
        bits.append(f"error: {step.error}")
    return step.head, bits


def run(app: App, run_id: str) -> RunView | None:
    """Return one run's timeline (as `coo trace` shows it) and its checkpoints, or None."""
    with Session(app.db) as s:
        r = s.get(Run, run_id)
        if r is None:
            return None
        spends = s.exec(select(Spend).where(Spend.run_id == r.id)).all()
        approvals = s.exec(select(Approval).where(Approval.run_id == r.id)).all()
        events = list(eventlog.for_run(s, r.id))
        context = list(retrievals.for_run(s, r.id))
        undos = [u for ev in events if (u := eventlog.compensation_of(s, ev.id)) is not None]
    rows: list[Row] = []
    for sp in spends:
        rows.append(
            Row(
                sp.at,
                "model",
                f"{sp.model} [{sp.rung or '-'}] {sp.input_tokens} in, {sp.output_tokens} out, "
                f"{sp.cached_tokens} cached, ${sp.cost_usd:.5f}",
            )
        )
    undone = {u.compensates for u in undos}
    undoable = []
    for ev in events:
        p = ev.payload
        if ev.kind == "input":
            rows.append(Row(ev.at, "input", f"{p.get('text')!r} via {p.get('channel')}"))
        elif ev.kind == "step":
            head, bits = _step(p)
            rows.append(Row(ev.at, "step", head, bits))
        elif ev.kind == "decision":
            rows.append(
                Row(ev.at, "approval", f"{p.get('approval_id')} {p.get('decision')} by {p.get('by')}")
            )
        elif ev.kind == "effect":
            rows.append(
                Row(ev.at, "effect", f"{ev.action}: {p.get('text', '')}", [f"key {ev.idempotency_key}"])
            )
            if ev.compensation and ev.id not in undone:
                undoable.append(ev.id)
        else:
            rows.append(Row(ev.at, ev.kind, json.dumps(p, default=str)[:300]))
    for rt in context:
        rows.append(
            Row(
                rt.at,
                "context",
                f"{rt.ref} #{rt.rank} score {rt.score:.4f}",
                [json.dumps(rt.detail, default=str)[:300]],
            )
        )
    for ap in approvals:
        who = (
            f"; {ap.status} by {ap.decided_by} at {ap.decided_at:%Y-%m-%d %H:%M:%S}" if ap.decided_at else ""
        )
        rows.append(Row(ap.created_at, "ask", f"{ap.id} {ap.action.get('summary')!r} ({ap.reason}){who}"))
    for u in undos:
        rows.append(Row(u.at, "undo", f"{u.id} of {u.compensates} by {u.actor}: {u.payload.get('text', '')}"))
    if r.finished_at:
        rows.append(Row(r.finished_at, r.status, r.error or ""))
    rows.sort(key=lambda x: x.at)
    checkpoints = []
    seen = set()
    for snap in app.engine.graph.get_state_history({"configurable": {"thread_id": run_id}}):
        for step in snap.next:
            if step not in seen and not step.startswith(
                "__"
            ):  # "replay from here" starts before the latest time that step was next
                seen.add(step)
                cid = str((snap.config.get("configurable") or {}).get("checkpoint_id", ""))
                checkpoints.append(Checkpoint(step, str(snap.created_at or ""), cid))
    checkpoints.reverse()
    return RunView(r, rows, checkpoints, len(spends), undoable)


def failed_runs(app: App, limit: int = 100) -> list[RunRow]:
    """Return failed runs, oldest first (the order a backfill replays them)."""
    rows = runs(app, status="failed", limit=limit)
    return sorted(rows, key=lambda x: x.created_at)


def run_status(app: App, run_id: str) -> str:
    """Return a run's status, with its error when it failed ("" when unknown)."""
    with Session(app.db) as s:
        r = s.get(Run, run_id)
    if r is None:
        return ""
    return f"{r.status}: {r.error}" if r.status == "failed" and r.error else r.status


@dataclass
class BudgetView:
    """Spend per day and per agent, the caps and the ladder."""

    days: list[tuple[date, float]]
    agents: dict[str, list[tuple[date, float]]]
    today: float
    month: float
    day_cap: float | None
    month_cap: float | None
    agent_caps: dict[str, dict[str, float | None]]
    rung_now: str
    rungs: list[tuple[str, int, float]]


def budget(app: App, days: int = 30) -> BudgetView:
    """Return the budget page's figures."""
    from graph.spend_report import daily_series, month_start, total

    ledger, db = app.ledger, app.db
    today = ledger.today()
    first_day = today - timedelta(days=days - 1)
    series = daily_series(db, today, days)
    per_agent: dict[str, dict[str, float]] = {}
    with Session(db) as s:
        for agent, day, usd in s.exec(
            select(Spend.agent, Spend.day, func.sum(Spend.cost_usd))
            .where(col(Spend.day) >= first_day.isoformat())
            .group_by(Spend.agent, Spend.day)
        ).all():
            per_agent.setdefault(agent, {})[day] = float(usd or 0)
        rungs = [
            (rung or "-", int(n), float(usd or 0))
            for rung, n, usd in s.exec(
                select(Spend.rung, func.count(), func.sum(Spend.cost_usd))
                .where(col(Spend.day) == today.isoformat())
                .group_by(Spend.rung)
            ).all()
        ]
    agents = {
        a: [(d, by_day.get(d.isoformat(), 0.0)) for d, _ in series] for a, by_day in sorted(per_agent.items())
    }
    rung_now = ""
    if app.ladder is not None:
        now = app.ladder.now()
        rung_now = f"{now.rung} ({now.model})" + (f": {now.reason}" if now.reason else "")
    return BudgetView(
        days=series,
        agents=agents,
        today=total(db, today, today),
        month=total(db, month_start(today), today),
        day_cap=ledger.cap("daily"),
        month_cap=ledger.cap("monthly"),
        agent_caps=ledger.agent_caps(),
        rung_now=rung_now or "the rule-based model (no model configured)",
        rungs=rungs,
    )


def outcome_text(outs: list[o.Outcome]) -> str:
    """Say in one line what outcomes mean (for a page's notice)."""
    from bot.render import render_all

    return " ".join(r.text for r in render_all(outs))
