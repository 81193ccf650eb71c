"""The job table's operations: enqueue inside the caller's transaction, claim with a lease, finish once.

Every state change is one conditional UPDATE, so two workers (threads or processes) never both own a
job: a claim takes a job that is queued and due, or running under a lease that expired (its worker
died); finishing and failing are fenced by the worker's name and attempt number, so a worker that
lost its lease cannot overwrite the new owner's work.

``enqueue`` only writes the row. Whoever commits the transaction has the job; a callback registered
with ``on_commit`` hears of it right after the commit (the fast path to the broker), and a relay
finds whatever a crash left behind (the durable path).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, or_, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.job_tables import FINAL, Job
from memory.tables import utcnow

log = logging.getLogger(__name__)

_PENDING = "coo.jobs.enqueued"
_MAX_ERRORS_KEPT = 10


@dataclass(frozen=True)
class Enqueued:
    """A job a committed transaction created: enough to hand it to a broker without reading it back."""

    id: str
    kind: str
    run_at: datetime


Listener = Callable[[list[Enqueued]], None]
_listeners: weakref.WeakKeyDictionary[Engine, list[Listener]] = weakref.WeakKeyDictionary()


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    args: dict[str, Any] | None = None,
    conversation: str = "",
    run_at: datetime | None = None,
    max_attempts: int = 3,
    job_id: str | None = None,
) -> Job:
    """Add a job inside the caller's transaction; the job with this key if there is one already.

    Args:
        session: The open transaction the job belongs to (it exists only if that commits).
        kind: The actor that runs it.
        key: Its idempotency key; the job's effects are keyed by it.
        args: JSON arguments.
        conversation: Where progress and the result are posted (empty: nowhere).
        run_at: Not before this time (a delayed send); now when omitted.
        max_attempts: Attempts before it becomes a dead letter.
        job_id: A pre-chosen id (when a message about the job was posted before it existed).
    """
    row = Job(
        key=key,
        kind=kind,
        args=args or {},
        conversation=conversation,
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
    )
    if job_id is not None:
        row.id = job_id
    # One statement: the insert skips a key that exists (committed, or earlier in this transaction),
    # instead of a lookup first and an insert after (a round trip less on every enqueue).
    values = {c.name: getattr(row, c.name) for c in _JOBS.columns}
    stmt = _dialect_insert(session)(Job).values(values).on_conflict_do_nothing(index_elements=["key"])
    job = (
        session.execute(stmt.returning(Job), execution_options={"populate_existing": True}).scalars().first()
    )
    if job is None:
        existing = by_key(session, key)
        assert existing is not None, f"job key {key!r} conflicted but is not there"
        return existing
    session.info.setdefault(_PENDING, []).append(Enqueued(job.id, job.kind, job.run_at))
    return job


_JOBS: Any = Job.__table__  # type: ignore[attr-defined]


def _dialect_insert(session: Session) -> Any:
    """Return the INSERT construct of the session's database (both have ON CONFLICT DO NOTHING)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def on_commit(engine: Engine, listener: Listener) -> None:
    """Call ``listener`` with the jobs each committed transaction on ``engine`` enqueued."""
    if not event.contains(OrmSession, "after_commit", _after_commit):
        event.listen(OrmSession, "after_commit", _after_commit)
        event.listen(OrmSession, "after_soft_rollback", _after_rollback)
    _listeners.setdefault(engine, []).append(listener)


def off_commit(engine: Engine, listener: Listener) -> None:
    """Stop calling a listener registered with ``on_commit``."""
    listeners = _listeners.get(engine, [])
    if listener in listeners:
        listeners.remove(listener)


def _after_commit(session: OrmSession) -> None:
    pending: list[Enqueued] = session.info.pop(_PENDING, [])
    if not pending:
        return
    bind = session.get_bind()
    for listener in list(_listeners.get(bind, [])) if isinstance(bind, Engine) else []:
        try:
            listener(pending)
        except Exception:  # the relay will find these jobs; a failed fast path must not fail the commit
            log.exception("handing committed jobs to the broker failed")


def _after_rollback(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


# ---- reading ------------------------------------------------------------------------------------


def by_key(session: Session, key: str) -> Job | None:
    """Return the job with this idempotency key, if any."""
    return session.exec(select(Job).where(Job.key == key)).first()


def get(engine: Engine, job_id: str) -> Job | None:
    """Return one job."""
    with Session(engine) as s:
        return s.get(Job, job_id)


def due(engine: Engine, until: datetime) -> list[Job]:
    """Return queued jobs whose time comes before ``until``, soonest first."""
    with Session(engine) as s:
        q = select(Job).where(Job.status == "queued", col(Job.run_at) <= until).order_by(col(Job.run_at))
        return list(s.exec(q).all())


def expired(engine: Engine, now: datetime) -> list[Job]:
    """Return running jobs whose lease ran out (their worker died) and that may be tried again."""
    with Session(engine) as s:
        q = select(Job).where(
            Job.status == "running", col(Job.lease_until) < now, col(Job.attempts) < col(Job.max_attempts)
        )
        return list(s.exec(q).all())


def unfinished(engine: Engine) -> list[Job]:
    """Return every job not finished, oldest first."""
    with Session(engine) as s:
        q = select(Job).where(col(Job.status).in_(["queued", "running"])).order_by(col(Job.created_at))
        return list(s.exec(q).all())


def counts(engine: Engine) -> dict[str, int]:
    """Return how many jobs are in each status."""
    with Session(engine) as s:
        rows = s.exec(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: int(n) for status, n in rows}


def recent_dead(engine: Engine, since: datetime, limit: int = 10) -> list[Job]:
    """Return dead letters since a time, newest first."""
    with Session(engine) as s:
        q = (
            select(Job)
            .where(Job.status == "dead", col(Job.finished_at) >= since)
            .order_by(col(Job.finished_at).desc())
            .limit(limit)
        )
        return list(s.exec(q).all())


# ---- state changes ------------------------------------------------------------------------------


_NO_FLUSH_WAIT = text("SET LOCAL synchronous_commit TO OFF")


def claim(engine: Engine, job_id: str, *, worker: str, lease: timedelta, now: datetime) -> Job | None:
    """Take a job for one attempt; None when it is finished, not due, or held under a live lease.

    On PostgreSQL the claim commits without waiting for its WAL flush (one fsync of the three a job pays).
    The job's promise holds: its enqueue and its finish still wait for the flush, and a finish that is
    durable makes every earlier commit durable (the WAL is written in order). A claim lost to a server
    crash leaves the job queued, so it runs again, as a job whose worker died under its lease does.
    """
    with transaction(engine) as s:  # one statement: the conditional UPDATE returns the claimed row
        if s.get_bind().dialect.name == "postgresql":
            s.execute(_NO_FLUSH_WAIT)
        return (
            s.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.attempts) < col(Job.max_attempts))
                .where(
                    or_(
                        and_(col(Job.status) == "queued", col(Job.run_at) <= now),
                        and_(col(Job.status) == "running", col(Job.lease_until) < now),
                    )
                )
                .values(
                    status="running",
                    attempts=col(Job.attempts) + 1,
                    worker=worker,
                    lease_until=now + lease,
                    started_at=now,
                )
                .returning(Job),
                execution_options={"populate_existing": True},
            )
            .scalars()
            .first()
        )


def extend(engine: Engine, leases: Sequence[tuple[str, int]], *, worker: str, until: datetime) -> int:
    """Extend the leases this worker holds, given as (job id, attempt); return how many still held."""
    held = 0
    with transaction(engine) as s:
        for job_id, attempt in leases:
            held += s.execute(_fenced(job_id, worker, attempt).values(lease_until=until)).rowcount  # type: ignore[attr-defined]
    return held


def _fenced(job_id: str, worker: str, attempt: int) -> Any:
    return update(Job).where(
        col(Job.id) == job_id,
        col(Job.status) == "running",
        col(Job.worker) == worker,
        col(Job.attempts) == attempt,
    )


def set_progress(engine: Engine, job_id: str, text: str, *, worker: str, attempt: int) -> bool:
    """Record a running job's progress line; False when this worker no longer holds it."""
    with transaction(engine) as s:
        return bool(s.execute(_fenced(job_id, worker, attempt).values(progress=text)).rowcount)  # type: ignore[attr-defined]


def finish(
    engine: Engine,
    job_id: str,
    *,
    worker: str,
    attempt: int,
    result: dict[str, Any],
    now: datetime,
    also: Callable[[Session], None] | None = None,
) -> bool:
    """Mark a job done; False when this worker no longer held it (another finished or took it over).

    ``also`` writes in the same transaction, when the job is marked done (its owed replies: the outbox).
    """
    with transaction(engine) as s:
        changed = s.execute(
            _fenced(job_id, worker, attempt).values(
                status="done", result=result, finished_at=now, lease_until=None, last_error=None
            )
        ).rowcount  # type: ignore[attr-defined]
        if changed and also is not None:
            also(s)
    return bool(changed)


def fail(
    engine: Engine,
    job_id: str,
    *,
    worker: str,
    attempt: int,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> str | None:
    """Record a failed attempt: queued again at ``retry_at``, or dead when None or out of attempts.

    Returns:
        The job's new status (``queued`` or ``dead``), or None when this worker no longer held it.
    """
    with transaction(engine) as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        errors = [*job.errors, {"attempt": attempt, "at": now.isoformat(), "error": error}]
        retry = retry_at is not None and attempt < job.max_attempts
        values: dict[str, Any] = {
            "last_error": error,
            "errors": errors[-_MAX_ERRORS_KEPT:],
            "lease_until": None,
            "status": "queued" if retry else "dead",
        }
        if retry:
            values["run_at"] = retry_at
        else:
            values["finished_at"] = now
        changed = s.execute(_fenced(job_id, worker, attempt).values(**values)).rowcount  # type: ignore[attr-defined]
    return str(values["status"]) if changed else None


def bury_exhausted(engine: Engine, now: datetime) -> list[Job]:
    """Dead-letter running jobs whose lease expired on their last attempt (a job that kills its worker)."""
    buried = []
    with transaction(engine) as s:
        rows = s.exec(
            select(Job).where(
                Job.status == "running",
                col(Job.lease_until) < now,
                col(Job.attempts) >= col(Job.max_attempts),
            )
        ).all()
        for job in rows:
            error = (
                f"the worker stopped during attempt {job.attempts} of {job.max_attempts} (killed or crashed)"
            )
            changed = s.execute(
                update(Job)
                .where(col(Job.id) == job.id, col(Job.status) == "running", col(Job.lease_until) < now)
                .values(
                    status="dead",
                    finished_at=now,
                    lease_until=None,
                    last_error=error,
                    errors=[*job.errors, {"attempt": job.attempts, "at": now.isoformat(), "error": error}],
                )
            ).rowcount  # type: ignore[attr-defined]
            if changed:
                buried.append(job)
    return buried


def cancel(session: Session, job_id: str, now: datetime) -> bool:
    """Cancel a job that has not started, inside the caller's transaction; False when too late."""
    changed = session.execute(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == "queued")
        .values(status="cancelled", finished_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def revive(engine: Engine, job_id: str, now: datetime) -> Job | None:
    """Queue a dead letter again with fresh attempts (the Retry button); None when it is not dead."""
    with transaction(engine) as s:
        changed = s.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.status) == "dead")
            .values(status="queued", attempts=0, run_at=now, finished_at=None, worker=None)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return None
        job = s.get(Job, job_id)
        assert job is not None
        s.info.setdefault(_PENDING, []).append(Enqueued(job.id, job.kind, job.run_at))
        return job


def is_final(status: str) -> bool:
    """Tell whether a status is final (done, dead or cancelled)."""
    return status in FINAL
