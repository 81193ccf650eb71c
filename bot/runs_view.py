"""Readable views of runs: the recent list (`coo runs`, `/runs`) and one run's timeline (`coo trace`)."""

from __future__ import annotations

import json
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


def _step_line(payload: dict[str, Any]) -> str:
    update = payload.get("update") or {}
    bits = [f"{payload.get('node')} {payload.get('status')} in {payload.get('ms', 0):.1f} ms"]
    if "planner" in update:
        bits.append(f"planner={update['planner']} endpoint={endpoint_of(str(update['planner']))}")
    if payload.get("host"):
        bits.append(f"ran on {payload['host']} (inline)")
    for u in update.get("usage") or []:
        bits.append(
            f"model={u['model']} in={u['input_tokens']} out={u['output_tokens']} ${u['cost_usd']:.5f}"
        )
    for p in update.get("proposals") or []:
        action = p.get("action") or {}
        args = json.dumps(action.get("arguments"), sort_keys=True) if action else ""
        bits.append(f"[{p.get('verdict')}] {p.get('key')} {args} {p.get('reason') or ''}".rstrip())
    for ap_id, d in (update.get("decisions") or {}).items():
        bits.append(f"{ap_id}={d}")
    for r in update.get("results") or []:
        bits.append(("ok " if r.get("ok") else "FAILED ") + str(r.get("text")))
    if update.get("reply"):
        bits.append(f"reply={update['reply'][:80]!r}")
    if payload.get("error"):
        bits.append(f"error={payload['error']}")
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
            rows.append((ev.at, f"step     {_step_line(p)}"))
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
