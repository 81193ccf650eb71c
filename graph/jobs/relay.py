"""The relay: hands jobs from the job table to the broker, so the table, not the broker, is the record.

A committed job is normally handed over at once (the fast path, right after its transaction commits).
The relay covers everything else:

- on start, every unfinished job is handed over again (the in-memory broker lost its messages when the
  process stopped; on Redis a duplicate is harmless, as the claim lets only one run);
- a job whose lease expired (its worker died) is handed over again;
- a queued job still waiting well after its time (a message lost on the way) is handed over again;
- with a local broker, jobs other processes wrote to the table are picked up too;
- a job whose worker died on its last attempt is dead-lettered and reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from memory import jobs
from memory.job_tables import Job
from memory.tables import utcnow

log = logging.getLogger(__name__)

Dispatch = Callable[[str, str, float | None], None]  # (job id, kind, delay in seconds or None)


class Relay:
    """Decides which jobs to hand to the broker, and remembers what it handed when."""

    def __init__(
        self,
        db: Engine,
        dispatch: Dispatch,
        *,
        shared_broker: bool,
        on_dead: Callable[[Job], None] = lambda _job: None,
        clock: Callable[[], datetime] = utcnow,
        horizon_s: float = 600.0,
        stale_s: float = 60.0,
    ) -> None:
        """Build a relay.

        Args:
            db: The database holding the job table.
            dispatch: Puts a message for a job on the broker.
            shared_broker: True for a broker every process shares (Redis): jobs committed elsewhere are
                on it already. False for the in-process broker: the relay hands over every job it sees.
            on_dead: Told about jobs dead-lettered because their worker died on the last attempt.
            clock: The time.
            horizon_s: Delayed jobs are handed over when due within this long.
            stale_s: A due job still queued this long after it was handed over is handed over again.
        """
        self.db = db
        self._dispatch = dispatch
        self.shared_broker = shared_broker
        self.on_dead = on_dead
        self.clock = clock
        self.horizon = timedelta(seconds=horizon_s)
        self.stale = timedelta(seconds=stale_s)
        self._handed: dict[str, datetime] = {}  # job id → when its message is due to be taken
        self._lock = threading.Lock()
        self.handed_over = 0

    def send(self, job_id: str, kind: str, delay_s: float | None = None) -> None:
        """Hand one job to the broker now (to be taken after ``delay_s``) and remember it."""
        delay = max(delay_s or 0.0, 0.0)
        with self._lock:
            self._handed[job_id] = self.clock() + timedelta(seconds=delay)
            self.handed_over += 1
        self._dispatch(job_id, kind, delay or None)

    def start(self) -> int:
        """Hand over every unfinished job that may run (called once when workers start)."""
        now = self.clock()
        n = 0
        for job in jobs.unfinished(self.db):
            if job.status == "queued" and job.run_at <= now + self.horizon:
                self.send(job.id, job.kind, (job.run_at - now).total_seconds())
                n += 1
            elif job.status == "running" and job.lease_until is not None and job.lease_until < now:
                self.send(job.id, job.kind)
                n += 1
        return n

    def tick(self) -> int:
        """Do one round: bury jobs that killed their workers, re-hand expired and stale ones."""
        now = self.clock()
        for job in jobs.bury_exhausted(self.db, now):
            log.warning("job %s (%s) dead-lettered: %s", job.id, job.kind, job.last_error)
            try:
                self.on_dead(job)
            except Exception:
                log.exception("reporting dead job %s failed", job.id)
        n = 0
        for job in jobs.expired(self.db, now):
            lease_end = job.lease_until or now
            with self._lock:
                handed = self._handed.get(job.id)
            if handed is None or handed < lease_end:
                log.info("job %s: its worker's lease expired; handing it over again", job.id)
                self.send(job.id, job.kind)
                n += 1
        for job in jobs.due(self.db, now + self.horizon):
            with self._lock:
                handed = self._handed.get(job.id)
            if handed is None and self.shared_broker:
                handed = job.run_at  # its own transaction handed it to the shared broker
            if handed is None or now > handed + self.stale:
                self.send(job.id, job.kind, (job.run_at - now).total_seconds())
                n += 1
        self._forget_old(now)
        return n

    def _forget_old(self, now: datetime) -> None:
        cutoff = now - max(self.horizon, self.stale) * 2
        with self._lock:
            for job_id in [j for j, t in self._handed.items() if t < cutoff]:
                del self._handed[job_id]
