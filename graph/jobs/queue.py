"""The job queue: the one handle the application has on long work.

It submits jobs (in a transaction of its own, or the caller's), hands committed jobs to the broker,
and owns the runner and the relay that the actors and the workers use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.broker import Broker
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.joberrors import UnknownKind
from agents.jobkind import JobKind, JobReporter
from graph.actors import declare_actors
from graph.jobs.relay import Relay
from graph.jobs.runner import JobRunner, Lease
from memory import jobs
from memory.db import transaction
from memory.job_tables import Job
from memory.tables import utcnow

log = logging.getLogger(__name__)


class JobQueue:
    """Submits jobs and connects the job table to the broker.

    Args:
        db: The database with the job table.
        broker: The Dramatiq broker (Redis, or the in-memory StubBroker of the embedded mode).
        kinds: The job kinds; each becomes an actor on ``broker``.
        reporter: Where jobs report progress, results and failures.
        worker: This process's name, recorded on the jobs it claims.
        shared_broker: Whether every process shares the broker (Redis).
    """

    def __init__(
        self,
        db: Engine,
        broker: Broker,
        kinds: Iterable[JobKind],
        reporter: JobReporter,
        *,
        worker: str,
        shared_broker: bool,
        lease: Lease = Lease(),
        clock: Callable[[], datetime] = utcnow,
        progress_interval_s: float = 1.0,
        stale_s: float = 60.0,
    ) -> None:
        self.db = db
        self.broker = broker
        self.clock = clock
        self.kinds = {k.name: k for k in kinds}
        self.actors: dict[str, dramatiq.Actor[Any, Any]] = declare_actors(
            broker, self.kinds.values(), self._perform
        )
        self.relay = Relay(
            db,
            self._dispatch,
            shared_broker=shared_broker,
            on_dead=self._report_dead,
            clock=clock,
            stale_s=stale_s,
        )
        self.runner = JobRunner(
            db,
            self.kinds,
            reporter,
            worker=worker,
            resend=self.relay.send,
            lease=lease,
            clock=clock,
            progress_interval_s=progress_interval_s,
        )
        jobs.on_commit(db, self._committed)

    def add(self, kind: JobKind) -> None:
        """Register one more job kind (an agent's long work, e.g. research) and declare its actor."""
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name} registered twice")
        self.actors.update(declare_actors(self.broker, [kind], self._perform))
        self.kinds[kind.name] = kind

    def close(self) -> None:
        """Stop handing committed jobs to the broker."""
        jobs.off_commit(self.db, self._committed)

    # ---- submitting -----------------------------------------------------------------------------

    def enqueue(
        self,
        session: Session,
        kind: str,
        *,
        key: str,
        args: dict[str, Any] | None = None,
        conversation: str = "",
        run_at: datetime | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Add a job inside the caller's transaction; it goes to the broker when that commits."""
        spec = self.kinds.get(kind)
        if spec is None:
            raise UnknownKind(kind)
        return jobs.enqueue(
            session,
            kind=kind,
            key=key,
            args=args,
            conversation=conversation,
            run_at=run_at,
            max_attempts=spec.max_attempts,
            job_id=job_id,
        )

    def submit(
        self,
        kind: str,
        *,
        key: str,
        args: dict[str, Any] | None = None,
        conversation: str = "",
        run_at: datetime | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Add a job in a transaction of its own (the job with this key, if there is one)."""
        with transaction(self.db) as s:
            return self.enqueue(
                s, kind, key=key, args=args, conversation=conversation, run_at=run_at, job_id=job_id
            )

    def retry(self, job_id: str) -> Job | None:
        """Queue a dead letter again with fresh attempts; None when it is not a dead letter."""
        return jobs.revive(self.db, job_id, self.clock())

    def get(self, job_id: str) -> Job | None:
        """Return one job."""
        return jobs.get(self.db, job_id)

    # ---- the broker -----------------------------------------------------------------------------

    def _committed(self, items: list[jobs.Enqueued]) -> None:
        now = self.clock()
        for item in items:
            if item.kind in self.kinds:
                self.relay.send(item.id, item.kind, (item.run_at - now).total_seconds())

    def _dispatch(self, job_id: str, kind: str, delay_s: float | None) -> None:
        actor = self.actors.get(kind)
        if actor is None:
            log.error("job %s: no actor for kind %r in this process; it stays queued", job_id, kind)
            return
        delay = int(delay_s * 1000) if delay_s else None
        actor.send_with_options(args=(job_id,), delay=delay)

    def _perform(self, job_id: str) -> None:
        self.runner.run(job_id)

    def _report_dead(self, job: Job) -> None:
        self.runner.report_dead(job)
