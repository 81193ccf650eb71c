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

from memory import conversations, eventlog, retrievals
from memory.db import transaction
from memory.tables import Approval, Run, Spend, utcnow

_RUNS: Any = Run.__table__  # type: ignore[attr-defined]


def _set_status(s: Session, run_id: str, status: str, error: str | None, *, returning: bool = False) -> Run | None:
    """Set a run's status in one UPDATE (no read first); with ``returning``, return the row as written.

    Without ``returning`` it is a Core UPDATE of the table (the ORM's bulk-update path costs more).
    """
    values: dict[str, Any] = {"status": status, "error": error}
    if status in ("done", "failed"):
        values["finished_at"] = utcnow()
    if not returning:
        s.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(**values))
        return None
    stmt = update(Run).where(col(Run.id) == run_id).values(**values).execution_options(synchronize_session=False)
    return s.execute(stmt.returning(Run)).scalars().first()


def record_plan_in(s: Session, run_id: str, planner: str, cost_usd: float) -> None:
    """Record which planner planned a run and add what its model calls cost, in the caller's transaction."""
    s.execute(
        update(_RUNS).where(_RUNS.c.id == run_id).values(planner=planner[:200], cost_usd=_RUNS.c.cost_usd + cost_usd)
    )


class RunStore:
    """Runs: started, moved between statuses, claimed for a retry, found again by recovery."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def get(self, run_id: str) -> Run | None:
        """Return a run, or None."""
        with Session(self.db) as s:
            return s.get(Run, run_id)

    def start(self, run: Run, events: Sequence[dict[str, Any]] = ()) -> bool:
        """Store a new run, its input as the conversation's user turn and its first events, in one transaction.

        Args:
            run: The new run.
            events: Event-log rows (``eventlog.append``'s arguments) of the new run, e.g. its input breadcrumb.

        Returns:
            False when a run with the same id exists already (a concurrent copy of the same delivery won).
        """
        try:
            with transaction(self.db) as s:
                s.add(run)
                conversations.add(s, run.conversation, "user", run.input)
                s.flush()  # the run's own IntegrityError comes first, before its events'
                eventlog.append_new(s, events)
        except IntegrityError:
            return False
        return True

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set a run's status and error (``done`` and ``failed`` also stamp when it finished)."""
        with transaction(self.db) as s:
            _set_status(s, run_id, status, error)

    def begin(self, run_id: str) -> Run | None:
        """Mark a run ``running`` and return it (None: no such run), in one transaction."""
        with transaction(self.db) as s:
            return _set_status(s, run_id, "running", None, returning=True)

    def finish(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        *,
        events: Sequence[dict[str, Any]] = (),
        reply: tuple[str, str] | None = None,
    ) -> None:
        """Record where a drive of a run ended in one transaction: its events, its status, its reply turn.

        Args:
            run_id: The run.
            status: Its status now (``waiting``, ``done``, ``failed``).
            error: Its error, if it failed.
            events: Event-log rows (the drive's breadcrumbs); keys already recorded are skipped.
            reply: (conversation, text) of the answer, stored as the conversation's next turn when not blank.
        """
        try:
            with transaction(self.db) as s:
                eventlog.append_new(s, events)
                self._finish(s, run_id, status, error, reply)
        except IntegrityError:
            # Another process recorded some of the same events meanwhile: record them one by one.
            eventlog.append_once(self.db, events)
            with transaction(self.db) as s:
                self._finish(s, run_id, status, error, reply)

    @staticmethod
    def _finish(s: Session, run_id: str, status: str, error: str | None, reply: tuple[str, str] | None) -> None:
        _set_status(s, run_id, status, error)
        if reply is not None and reply[1].strip():
            conversations.add(s, reply[0], "assistant", reply[1][: conversations.MAX_TURN_CHARS])

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
            record_plan_in(s, run_id, planner, cost_usd)

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
