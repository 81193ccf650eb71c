"""The run store: one row per request through the graph, its status, and what it cost.

The engine (graph/engine.py) asks this store; it never writes SQL of its own. A run's first user turn is
written in the same transaction as the run (memory/conversations.py), so a redelivered message that
loses the race for its run id leaves no second turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory import conversations, retrievals
from memory.db import transaction
from memory.tables import Approval, Run, Spend, utcnow


class RunStore:
    """Runs: started, moved between statuses, claimed for a retry, found again by recovery."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def get(self, run_id: str) -> Run | None:
        """Return a run, or None."""
        with Session(self.db) as s:
            return s.get(Run, run_id)

    def start(self, run: Run) -> bool:
        """Store a new run and its input as the conversation's user turn, in one transaction.

        Returns:
            False when a run with the same id exists already (a concurrent copy of the same delivery won).
        """
        try:
            with transaction(self.db) as s:
                s.add(run)
                conversations.add(s, run.conversation, "user", run.input)
        except IntegrityError:
            return False
        return True

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set a run's status and error (``done`` and ``failed`` also stamp when it finished)."""
        with transaction(self.db) as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            run.status = status
            run.error = error
            if status in ("done", "failed"):
                run.finished_at = utcnow()
            s.add(run)

    def claim_retry(self, run_id: str) -> tuple[bool, Run | None]:
        """Turn a failed run into ``retried`` in one conditional UPDATE (a double click claims once).

        Returns:
            Whether this call claimed it, and the run (None: no such run).
        """
        with transaction(self.db) as s:
            claimed = s.execute(
                update(Run).where(col(Run.id) == run_id, col(Run.status) == "failed").values(status="retried")
            ).rowcount  # type: ignore[attr-defined]
            run = s.get(Run, run_id)
        return bool(claimed), run

    def record_plan(self, run_id: str, planner: str, cost_usd: float) -> None:
        """Record which planner planned a run and add what its model calls cost."""
        with transaction(self.db) as s:
            run = s.get(Run, run_id)
            if run is not None:
                run.planner = planner[:200]
                run.cost_usd += cost_usd
                s.add(run)

    def record_context(self, run_id: str, rows: Sequence[retrievals.Retrieval]) -> None:
        """Record what a run's context was built from, replacing an earlier attempt's."""
        with transaction(self.db) as s:
            retrievals.replace(s, run_id, rows)

    def unfinished(self, channel: str | None = None) -> Sequence[Run]:
        """Return runs still ``waiting`` or ``running`` (from one channel, when given)."""
        with Session(self.db) as s:
            q = select(Run).where(col(Run.status).in_(["waiting", "running"]))
            if channel is not None:
                q = q.where(Run.channel == channel)
            return s.exec(q).all()

    def stuck(
        self, now: datetime, waiting_after: timedelta, running_after: timedelta
    ) -> list[tuple[Run, str]]:
        """Find runs waiting for a decision, or running, for longer than given; with the reason."""
        with Session(self.db) as s:
            waiting = s.exec(
                select(Run).where(Run.status == "waiting", col(Run.created_at) < now - waiting_after)
            ).all()
            running = s.exec(
                select(Run).where(Run.status == "running", col(Run.created_at) < now - running_after)
            ).all()
        return [(r, "waiting for a decision") for r in waiting] + [
            (r, "dead while executing") for r in running
        ]

    def counts(self, failures: int = 5) -> dict[str, Any]:
        """Return runs in flight, pending approvals and the latest failed runs."""
        with Session(self.db) as s:
            running = s.exec(select(func.count()).select_from(Run).where(Run.status == "running")).one()
            waiting = s.exec(
                select(func.count()).select_from(Approval).where(Approval.status == "pending")
            ).one()
            failed = s.exec(
                select(Run).where(Run.status == "failed").order_by(col(Run.created_at).desc()).limit(failures)
            ).all()
        return {"running": int(running), "pending_approvals": int(waiting), "recent_failures": list(failed)}

    def spend(self, today: date) -> dict[str, float]:
        """Return the model spend recorded for a day (``today``) and its month (``month``), in USD."""
        with Session(self.db) as s:
            day = s.exec(
                select(func.coalesce(func.sum(Spend.cost_usd), 0.0)).where(Spend.day == today.isoformat())
            ).one()
            month = s.exec(
                select(func.coalesce(func.sum(Spend.cost_usd), 0.0)).where(
                    col(Spend.day).startswith(today.strftime("%Y-%m"))
                )
            ).one()
        return {"today": float(day), "month": float(month)}
