"""Prometheus text for /metrics: counters read from the database, so every process reports the same totals."""

from __future__ import annotations

from sqlalchemy import func, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from memory.tables import Approval, Event, InboxItem, Run, Spend

Sample = tuple[str, dict[str, str], float]


def _grouped(s: Session, model: type, column: str) -> list[tuple[str, int]]:
    col_ = getattr(model, column)
    return [(str(k), int(n)) for k, n in s.exec(select(col_, func.count()).group_by(col_)).all()]  # type: ignore[call-overload]


def samples(db: Engine) -> list[tuple[str, str, str, list[Sample]]]:
    """Return (name, type, help, samples) for every metric."""
    with Session(db) as s:
        messages: list[Sample] = [
            ("coo_messages_total", {"channel": ch}, n) for ch, n in _grouped(s, InboxItem, "channel")
        ]
        runs: list[Sample] = [("coo_runs_total", {"status": st}, n) for st, n in _grouped(s, Run, "status")]
        approvals: list[Sample] = [
            ("coo_approvals_total", {"status": st}, n) for st, n in _grouped(s, Approval, "status")
        ]
        events: list[Sample] = [("coo_events_total", {"kind": k}, n) for k, n in _grouped(s, Event, "kind")]
        spend = float(s.exec(select(func.coalesce(func.sum(Spend.cost_usd), 0.0))).one())
        errors = int(s.exec(select(func.count()).select_from(Run).where(Run.status == "failed")).one())
        jobs: list[Sample] = []
        if inspect(db).has_table("job"):
            from sqlalchemy import text

            jobs = [
                ("coo_jobs_total", {"status": str(st)}, int(n))
                for st, n in s.execute(text("SELECT status, count(*) FROM job GROUP BY status")).all()
            ]
    return [
        ("coo_messages_total", "counter", "Deliveries received, by channel.", messages),
        ("coo_runs_total", "counter", "Runs, by current status.", runs),
        ("coo_approvals_total", "counter", "Approvals, by current status.", approvals),
        (
            "coo_events_total",
            "counter",
            "Event-log entries, by kind (effect, compensation, step, …).",
            events,
        ),
        ("coo_jobs_total", "counter", "Jobs, by current status.", jobs),
        (
            "coo_spend_usd_total",
            "counter",
            "Model spend, all time, in USD.",
            [("coo_spend_usd_total", {}, spend)],
        ),
        ("coo_errors_total", "counter", "Runs that failed.", [("coo_errors_total", {}, errors)]),
    ]


def render(db: Engine) -> str:
    """Return the Prometheus exposition text."""
    out: list[str] = []
    for name, kind, help_, rows in samples(db):
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for sample, labels, value in rows:
            label = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append(f"{sample}{{{label}}} {value}" if label else f"{sample} {value}")
    return "\n".join(out) + "\n"
