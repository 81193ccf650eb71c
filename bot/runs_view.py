"""Readable views of runs: the recent list (`coo runs`, `/runs`) and one run's timeline (`coo trace`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory import eventlog, retrievals
from memory.tables import Approval, Run, Spend


class HasDb(Protocol):
    """Anything holding the workspace engine: an App, or the CLI's bare database (no App to build)."""

    @property
    def db(self) -> Engine:
        """The workspace engine."""
        ...


def runs_text(app: HasDb, limit: int = 20) -> str:
    """Return recent runs, newest first: id, time, status, cost, duration, input."""
    with Session(app.db) as s:
        rows = s.exec(select(Run).order_by(col(Run.created_at).desc()).limit(limit)).all()
    if not rows:
        return "No runs yet."
    lines = []
    for r in rows:
        took = f"{(r.finished_at - r.created_at).total_seconds():.2f}s" if r.finished_at else "-"
        lines.append(
            f"{r.id}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.status:8} ${r.cost_usd:.4f} {took:>7}  {r.input[:50]!r}"
        )
    return "\n".join(lines)


def endpoint_of(planner: str) -> str:
    """Return the endpoint a planner name says planned a step (``laptop:smollm2@…``: laptop)."""
    head = planner.split(":", 1)[0] if ":" in planner else planner
    if head in ("rules", "edit", "cache"):
        return {"cache": "cache (no call)"}.get(head, "rules (no call)")
    return "default" if head == "openai" else head


def _job_rows(app: HasDb, keys: set[str], run_id: str) -> list[tuple[Any, str]]:
    """Return the jobs a run's effects started: kind, the queue and the worker (host:pid) that ran them."""
    from graph.placement import agent_of
    from memory.job_tables import Job

    if not keys:
        return []
    settings = getattr(app, "settings", None)
    try:
        placement = settings.placement() if settings is not None else None
    except ValueError:
        placement = None
    with Session(app.db) as s:
        jobs = s.exec(select(Job).where(col(Job.key).in_(keys))).all()
    rows = []
    for j in jobs:
        queue = (placement.queue_of(agent_of(j.kind)) if placement is not None else None) or "coo"
        rows.append(
            (j.created_at, f"job      {j.id} {j.kind} queue={queue} on {j.worker or '-'} [{j.status}]")
        )
    return rows


@dataclass(frozen=True)
class Step:
    """What one step's trace event says, read once from its payload.

    `coo trace` and the web console's timeline each word it their own way (``step_line`` here,
    ``bot.ui.views``).
    """

    head: str  # "plan ok in 3.2 ms"
    planner: str | None
    host: str | None
    usage: list[tuple[str, int, int, float]]  # model, input tokens, output tokens, cost
    proposals: list[tuple[str, str, str, str]]  # verdict, key, arguments as JSON, reason
    decisions: list[tuple[str, str]]  # approval id, decision
    results: list[tuple[bool, str]]  # ok, text
    reply: str
    error: str


def step_of(payload: dict[str, Any]) -> Step:
    """Read a step's trace payload."""
    update = payload.get("update") or {}
    proposals = []
    for p in update.get("proposals") or []:
        action = p.get("action") or {}
        args = json.dumps(action.get("arguments"), sort_keys=True) if action else ""
        proposals.append((str(p.get("verdict")), str(p.get("key")), args, str(p.get("reason") or "")))
    return Step(
        head=f"{payload.get('node')} {payload.get('status')} in {payload.get('ms', 0):.1f} ms",
        planner=str(update["planner"]) if "planner" in update else None,
        host=payload.get("host") or None,
        usage=[
            (u["model"], u["input_tokens"], u["output_tokens"], u["cost_usd"]) for u in update.get("usage") or []
        ],
        proposals=proposals,
        decisions=[(ap_id, str(d)) for ap_id, d in (update.get("decisions") or {}).items()],
        results=[(bool(r.get("ok")), str(r.get("text"))) for r in update.get("results") or []],
        reply=str(update.get("reply") or ""),
        error=str(payload.get("error") or ""),
    )


def step_line(step: Step) -> str:
    """Return a step as one line of `coo trace`."""
    bits = [step.head]
    if step.planner is not None:
        bits.append(f"planner={step.planner} endpoint={endpoint_of(step.planner)}")
    if step.host:
        bits.append(f"ran on {step.host} (inline)")
    bits += [f"model={m} in={i} out={o} ${c:.5f}" for m, i, o, c in step.usage]
    bits += [f"[{v}] {k} {args} {why}".rstrip() for v, k, args, why in step.proposals]
    bits += [f"{ap_id}={d}" for ap_id, d in step.decisions]
    bits += [("ok " if ok else "FAILED ") + text for ok, text in step.results]
    if step.reply:
        bits.append(f"reply={step.reply[:80]!r}")
    if step.error:
        bits.append(f"error={step.error}")
    return "; ".join(bits)


def trace_text(app: HasDb, run_id: str) -> str | None:
    """Return one run as a timeline, or None when there is no such run."""
    with Session(app.db) as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        spends = s.exec(select(Spend).where(Spend.run_id == run.id)).all()
        approvals = s.exec(select(Approval).where(Approval.run_id == run.id)).all()
        events = list(eventlog.for_run(s, run.id))
        context = list(retrievals.for_run(s, run.id))
        undos = [u for ev in events if (u := eventlog.compensation_of(s, ev.id)) is not None]
    lines = [f"run {run.id} [{run.status}] by {run.actor} in {run.conversation} via {run.planner or '?'}"]
    lines.append(f"  cost ${run.cost_usd:.5f} over {len(spends)} model call(s)")
    for sp in spends:
        lines.append(
            f"  {sp.at:%H:%M:%S.%f}  model    {sp.model} [{sp.rung or '-'}] in={sp.input_tokens} "
            f"out={sp.output_tokens} cached={sp.cached_tokens} ${sp.cost_usd:.5f}"
        )
    rows: list[tuple[Any, str]] = []
    for ev in events:
        p = ev.payload
        if ev.kind == "input":
            rows.append((ev.at, f"input    {p.get('text')!r} via {p.get('channel')}"))
        elif ev.kind == "step":
            rows.append((ev.at, f"step     {step_line(step_of(p))}"))
        elif ev.kind == "decision":
            rows.append((ev.at, f"decision {p.get('approval_id')} {p.get('decision')} by {p.get('by')}"))
        elif ev.kind == "effect":
            rows.append(
                (ev.at, f"effect   {ev.id} {ev.action} key={ev.idempotency_key} {p.get('text', '')!r}")
            )
        else:
            rows.append((ev.at, f"{ev.kind:8} {ev.id} {json.dumps(p, default=str)[:200]}"))
    for rt in context:
        rows.append(
            (rt.at, f"context  {rt.ref} #{rt.rank} score={rt.score:.4f} {json.dumps(rt.detail, default=str)}")
        )
    for ap in approvals:
        rows.append(
            (
                ap.created_at,
                f"ask      {ap.id} {ap.action.get('summary')!r} ({ap.reason}) deciders={ap.deciders}",
            )
        )
    for u in undos:
        rows.append((u.at, f"undo     {u.id} of {u.compensates} by {u.actor} {u.payload.get('text', '')!r}"))
    rows += _job_rows(app, {ev.idempotency_key for ev in events if ev.kind == "effect"}, run.id)
    for at, text in sorted(rows, key=lambda r: r[0]):
        lines.append(f"  {at:%H:%M:%S.%f}  {text}")
    if run.finished_at:
        lines.append(
            f"  {run.finished_at:%H:%M:%S.%f}  {run.status}" + (f" ({run.error})" if run.error else "")
        )
    return "\n".join(lines)
