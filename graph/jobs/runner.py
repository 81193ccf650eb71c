"""Run one attempt of a job: claim it under a lease, run its kind, and record the outcome once.

This is the body of every job actor. Dramatiq hands it a job id; the job table decides whether there
is anything to do (a duplicate delivery, a cancelled send or a job another worker holds is skipped),
counts the attempt, retries with backoff, and dead-letters a job whose attempts run out, so a poison
job costs its own attempts and never blocks the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.joberrors import JobFailed, UnknownKind
from agents.jobkind import MAX_BACKOFF_S, JobContext, JobInfo, JobKind, JobProgress, JobReporter, LeaseLost
from memory import jobs
from memory.job_tables import Job
from memory.tables import utcnow

log = logging.getLogger(__name__)

Ran = Literal["done", "retry", "dead", "skipped", "early", "lost"]
Resend = Callable[[str, str, float], None]  # (job id, kind, delay in seconds)


@dataclass(frozen=True)
class Lease:
    """How long a claim holds before another worker may take the job over."""

    seconds: float = 30.0

    @property
    def delta(self) -> timedelta:
        """Return the lease as a timedelta."""
        return timedelta(seconds=self.seconds)


class JobRunner:
    """Runs attempts of jobs of the registered kinds and reports them."""

    def __init__(
        self,
        db: Engine,
        kinds: Mapping[str, JobKind],
        reporter: JobReporter,
        *,
        worker: str,
        resend: Resend,
        lease: Lease = Lease(),
        clock: Callable[[], datetime] = utcnow,
        progress_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.kinds = kinds
        self.reporter = reporter
        self.worker = worker
        self.resend = resend
        self.lease = lease
        self.clock = clock
        self.progress_interval_s = progress_interval_s
        self._held: dict[str, int] = {}  # job id → attempt, for the heartbeat
        self._held_lock = threading.Lock()
        self.ran: dict[str, int] = {}  # outcome → count, so tests and /status can see what happened

    def run(self, job_id: str) -> Ran:
        """Run one attempt of a job, if it is this worker's to run."""
        outcome = self._run(job_id)
        self.ran[outcome] = self.ran.get(outcome, 0) + 1
        return outcome

    def _run(self, job_id: str) -> Ran:
        now = self.clock()
        job = jobs.claim(self.db, job_id, worker=self.worker, lease=self.lease.delta, now=now)
        if job is None:
            return self._not_claimed(job_id, now)
        kind = self.kinds.get(job.kind)
        info = self._info(job, kind)
        if kind is None:
            return self._failed(job, None, info, str(UnknownKind(job.kind)), retry=False)
        with self._holding(job):
            try:
                result = kind.run(self._context(job, info))
            except LeaseLost:
                log.warning(
                    "job %s: lease lost during attempt %d; its new owner carries on", job.id, job.attempts
                )
                return "lost"
            except TimeLimitExceeded:
                error = f"it took longer than its limit of {kind.time_limit_s:g} s"
                return self._failed(job, kind, info, error, retry=True)
            except JobFailed as exc:
                return self._failed(job, kind, info, str(exc), retry=exc.retry, at_least_s=exc.retry_after_s)
            except Exception as exc:
                log.exception("job %s (%s) attempt %d failed", job.id, job.kind, job.attempts)
                error = f"an unexpected error ({type(exc).__name__}); it was logged"
                return self._failed(job, kind, info, error, retry=True)
        owe = getattr(self.reporter, "owe_finished", None)  # the result owed with the job done (the outbox)
        done = jobs.finish(
            self.db,
            job.id,
            worker=self.worker,
            attempt=job.attempts,
            result={"text": result.text, **result.data},
            now=self.clock(),
            also=(lambda s: owe(s, info, result)) if owe is not None else None,
        )
        if not done:
            log.warning("job %s finished after losing its lease; the new owner reports it", job.id)
            return "lost"
        self._report(lambda: self.reporter.finished(info, result))
        return "done"

    def _not_claimed(self, job_id: str, now: datetime) -> Ran:
        job = jobs.get(self.db, job_id)
        if job is not None and job.status == "queued" and job.run_at > now:
            # Delivered early (a broker's clock, a relay's horizon): put it back until its time.
            self.resend(job.id, job.kind, (job.run_at - now).total_seconds())
            return "early"
        return "skipped"

    def _failed(
        self,
        job: Job,
        kind: JobKind | None,
        info: JobInfo,
        error: str,
        *,
        retry: bool,
        at_least_s: float | None = None,
    ) -> Ran:
        delay = kind.retry_delay_s(job.attempts) if kind is not None and retry else None
        if delay is not None and at_least_s is not None:
            delay = min(max(delay, at_least_s), MAX_BACKOFF_S)  # the receiver's Retry-After
        now = self.clock()
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
        status = jobs.fail(
            self.db, job.id, worker=self.worker, attempt=job.attempts, error=error, retry_at=retry_at, now=now
        )
        if status is None:
            return "lost"
        if status == "queued" and delay is not None:
            self.resend(job.id, job.kind, delay)
            self._report(lambda: self.reporter.failed(info, error, delay))
            return "retry"
        log.warning(
            "job %s (%s) is a dead letter after %d attempt(s): %s", job.id, job.kind, job.attempts, error
        )
        self._report(lambda: self.reporter.failed(info, error, None))
        return "dead"

    def _context(self, job: Job, info: JobInfo) -> JobContext:
        def record(line: str) -> bool:
            return jobs.set_progress(self.db, job.id, line, worker=self.worker, attempt=job.attempts)

        def show(line: str) -> None:
            self._report(lambda: self.reporter.progress(info, line))

        progress = JobProgress(info, record=record, show=show, min_interval_s=self.progress_interval_s)
        return JobContext(job=info, args=dict(job.args), progress=progress, db=self.db, now=self.clock)

    def info(self, job: Job) -> JobInfo:
        """Return how reporters see a job."""
        return self._info(job, self.kinds.get(job.kind))

    def _info(self, job: Job, kind: JobKind | None) -> JobInfo:
        message_key: str | None = f"job:{job.id}"
        if kind is not None and kind.message_key is not None:
            with Session(self.db) as s:
                message_key = kind.message_key(s, job)
        return JobInfo(
            id=job.id,
            kind=job.kind,
            key=job.key,
            title=kind.label if kind is not None else f"the {job.kind} job",
            conversation=job.conversation,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            message_key=message_key,
        )

    def _report(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:  # telling the chat must never fail the job or its bookkeeping
            log.exception("reporting a job to the chat failed")

    # ---- leases ---------------------------------------------------------------------------------

    def _holding(self, job: Job) -> _Held:
        return _Held(self, job.id, job.attempts)

    def heartbeat(self) -> int:
        """Extend the leases of the jobs this worker is running; return how many it still holds."""
        with self._held_lock:
            held = list(self._held.items())
        if not held:
            return 0
        until = self.clock() + self.lease.delta
        return jobs.extend(self.db, held, worker=self.worker, until=until)

    def report_dead(self, job: Job) -> None:
        """Tell the chat about a job the relay dead-lettered (its worker died on its last attempt)."""
        info = self.info(job)
        self._report(lambda: self.reporter.failed(info, job.last_error or "its worker stopped", None))


class _Held:
    def __init__(self, runner: JobRunner, job_id: str, attempt: int) -> None:
        self.runner, self.job_id, self.attempt = runner, job_id, attempt

    def __enter__(self) -> None:
        with self.runner._held_lock:
            self.runner._held[self.job_id] = self.attempt

    def __exit__(self, *_exc: object) -> None:
        with self.runner._held_lock:
            self.runner._held.pop(self.job_id, None)
