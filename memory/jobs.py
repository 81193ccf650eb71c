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

from sqlalchemy import and_, bindparam, event, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from memory.db import autocommit, transaction
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
    given = {
        "key": key,
        "kind": kind,
        "args": args or {},
        "conversation": conversation,
        "run_at": run_at or utcnow(),
        "max_attempts": max_attempts,
    }
    if job_id is not None:
        given["id"] = job_id
    values = _with_defaults(given)
    job = Job(**values)
    # One statement: the insert skips a key that exists (committed, or earlier in this transaction),
    # instead of a lookup first and an insert after. Every value is chosen here, so it returns only the
    # id (whether it inserted, as rowcount is not reported for an INSERT), and the ORM loads nothing back.
    conn = session.connection()
    if conn.execute(_INSERT[conn.dialect.name], values).first() is None:
        existing = by_key(session, key)
        assert existing is not None, f"job key {key!r} conflicted but is not there"
        return existing
    session.info.setdefault(_PENDING, []).append(Enqueued(job.id, job.kind, job.run_at))
    return job


_JOBS: Any = Job.__table__  # type: ignore[attr-defined]
_FIELDS = [(name, f.default_factory, f.default) for name, f in Job.model_fields.items()]


def _with_defaults(given: dict[str, Any]) -> dict[str, Any]:
    """Return every column's value: the given ones, and the model's defaults for the rest.

    A model built with every value skips pydantic's default lookup, which inspects each default
    factory's signature on every call: a fifth of an enqueue's time.
    """
    return {
        name: given[name] if name in given else (factory() if factory is not None else default)  # type: ignore[call-arg]
        for name, factory, default in _FIELDS
    }


def _insert() -> dict[str, Any]:
    """Return the job INSERT of each database (both skip a key that exists: ON CONFLICT DO NOTHING)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return {
        d.dialect.name: d.insert(_JOBS).on_conflict_do_nothing(index_elements=["key"]).returning(_JOBS.c.id)
        for d in (postgresql, sqlite)
    }


_INSERT = _insert()


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


# A claim's commit need not wait for its WAL flush (see ``claim``). Set inside the statement, so the
# claim stays one round trip: set_config(..., true) lasts until the end of the statement's own transaction,
# and the commit reads it. The function runs only for the row the id picks, and is never NULL.
_NO_FLUSH_WAIT = func.set_config("synchronous_commit", "off", True).is_not(None)

# The hot statements are built once, with parameters: building and keying a statement per job cost
# more than running it.
_C = _JOBS.c
_FENCED = update(_JOBS).where(
    _C.id == bindparam("b_id"),
    _C.status == "running",
    _C.worker == bindparam("b_worker"),
    _C.attempts == bindparam("b_attempt"),
)
_DONE = _FENCED.values(
    status="done",
    result=bindparam("b_result", type_=_C.result.type),
    finished_at=bindparam("b_now", type_=_C.finished_at.type),
    lease_until=None,
    last_error=None,
)
_CLAIM = (
    update(_JOBS)
    .where(_C.id == bindparam("b_id"), _C.attempts < _C.max_attempts)
    .where(
        or_(
            and_(_C.status == "queued", _C.run_at <= bindparam("b_now", type_=_C.run_at.type)),
            and_(_C.status == "running", _C.lease_until < bindparam("b_now", type_=_C.run_at.type)),
        )
    )
    .values(
        status="running",
        attempts=_C.attempts + 1,
        worker=bindparam("b_worker", type_=_C.worker.type),
        lease_until=bindparam("b_until", type_=_C.lease_until.type),
        started_at=bindparam("b_now", type_=_C.started_at.type),
    )
    .returning(*_C)
)
_CLAIM_NO_FLUSH_WAIT = _CLAIM.where(_NO_FLUSH_WAIT)


def claim(engine: Engine, job_id: str, *, worker: str, lease: timedelta, now: datetime) -> Job | None:
    """Take a job for one attempt; None when it is finished, not due, or held under a live lease.

    One statement, committed on its own: the conditional UPDATE returns the claimed row.
    On PostgreSQL the claim commits without waiting for its WAL flush (one fsync of the three a job pays).
    The job's promise holds: its enqueue and its finish still wait for the flush, and a finish that is
    durable makes every earlier commit durable (the WAL is written in order). A claim lost to a server
    crash leaves the job queued, so it runs again, as a job whose worker died under its lease does.
    """
    params = {"b_id": job_id, "b_worker": worker, "b_until": now + lease, "b_now": now}
    with autocommit(engine) as conn:
        stmt = _CLAIM_NO_FLUSH_WAIT if conn.dialect.name == "postgresql" else _CLAIM
        row = conn.execute(stmt, params).first()
    return None if row is None else Job(**row._mapping)


def extend(engine: Engine, leases: Sequence[tuple[str, int]], *, worker: str, until: datetime) -> int:
    """Extend the leases this worker holds, given as (job id, attempt); return how many still held."""
    held = 0
    with transaction(engine) as s:
        for job_id, attempt in leases:
            held += (
                s.connection()
                .execute(_FENCED.values(lease_until=until), _fence(job_id, worker, attempt))
                .rowcount
            )
    return held


def _fence(job_id: str, worker: str, attempt: int) -> dict[str, Any]:
    """Return the parameters of ``_FENCED``: the attempt of the job this worker must still hold."""
    return {"b_id": job_id, "b_worker": worker, "b_attempt": attempt}


def set_progress(engine: Engine, job_id: str, text: str, *, worker: str, attempt: int) -> bool:
    """Record a running job's progress line; False when this worker no longer holds it."""
    with transaction(engine) as s:
        return bool(
            s.connection().execute(_FENCED.values(progress=text), _fence(job_id, worker, attempt)).rowcount
        )


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
    params = {**_fence(job_id, worker, attempt), "b_result": result, "b_now": now}
    if also is None:  # one statement: committed on its own, one round trip
        with autocommit(engine) as conn:
            return bool(conn.execute(_DONE, params).rowcount)
    with transaction(engine) as s:
        changed = s.connection().execute(_DONE, params).rowcount
        if changed:
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
        changed = s.connection().execute(_FENCED.values(**values), _fence(job_id, worker, attempt)).rowcount
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
