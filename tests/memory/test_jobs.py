"""The job table on SQLite and PostgreSQL: enqueue in the caller's transaction, claims, leases, fencing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, select

from memory import jobs
from memory.db import transaction
from memory.job_tables import Job
from memory.tables import Task, utcnow

LEASE = timedelta(seconds=30)


def test_enqueue_belongs_to_the_callers_transaction(db):
    heard: list[list[jobs.Enqueued]] = []
    jobs.on_commit(db, heard.append)
    try:
        # Given a transaction that writes a task and a job and then fails, neither exists.
        with pytest.raises(RuntimeError), transaction(db) as s:
            s.add(Task(text="t", idempotency_key="k-task"))
            jobs.enqueue(s, kind="k", key="key-1")
            raise RuntimeError("the request failed")
        with Session(db) as s:
            assert s.exec(select(Job)).all() == [] and s.exec(select(Task)).all() == []
        assert heard == []
        # When it commits, both exist and the listener hears of the job once, after the commit.
        with transaction(db) as s:
            s.add(Task(text="t", idempotency_key="k-task"))
            job = jobs.enqueue(s, kind="k", key="key-1", args={"a": 1})
            assert heard == []
        assert [[e.id for e in batch] for batch in heard] == [[job.id]]
        # The same key again is the same job, and nothing new is heard.
        with transaction(db) as s:
            again = jobs.enqueue(s, kind="k", key="key-1")
        assert again.id == job.id and len(heard) == 1
    finally:
        jobs.off_commit(db, heard.append)


def test_claim_once_not_early_and_take_over_after_the_lease(db):
    now = utcnow()
    with transaction(db) as s:
        job = jobs.enqueue(s, kind="k", key="key-2", run_at=now + timedelta(seconds=60))
    assert jobs.claim(db, job.id, worker="w1", lease=LEASE, now=now) is None  # not due yet
    later = now + timedelta(seconds=61)
    first = jobs.claim(db, job.id, worker="w1", lease=LEASE, now=later)
    assert first is not None and first.attempts == 1 and first.status == "running"
    assert jobs.claim(db, job.id, worker="w2", lease=LEASE, now=later) is None  # held
    # w1 dies; once its lease expires w2 takes over, and w1 can no longer finish or fail it.
    expired = later + LEASE + timedelta(seconds=1)
    assert [j.id for j in jobs.expired(db, expired)] == [job.id]
    second = jobs.claim(db, job.id, worker="w2", lease=LEASE, now=expired)
    assert second is not None and second.attempts == 2
    assert not jobs.finish(db, job.id, worker="w1", attempt=1, result={}, now=expired)
    assert jobs.fail(db, job.id, worker="w1", attempt=1, error="x", retry_at=None, now=expired) is None
    assert jobs.finish(db, job.id, worker="w2", attempt=2, result={"text": "ok"}, now=expired)
    done = jobs.get(db, job.id)
    assert done is not None and done.status == "done" and done.result == {"text": "ok"}
    assert jobs.claim(db, job.id, worker="w3", lease=LEASE, now=expired + LEASE * 3) is None


def test_concurrent_claims_one_winner(db):
    with transaction(db) as s:
        job = jobs.enqueue(s, kind="k", key="key-3")
    now = utcnow()
    won: list[str] = []
    barrier = threading.Barrier(8)

    def claim(name: str) -> None:
        barrier.wait()
        if jobs.claim(db, job.id, worker=name, lease=LEASE, now=now) is not None:
            won.append(name)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


def test_failures_retry_then_dead_letter_with_every_error(db):
    with transaction(db) as s:
        job = jobs.enqueue(s, kind="k", key="key-4", max_attempts=2)
    now = utcnow()
    jobs.claim(db, job.id, worker="w", lease=LEASE, now=now)
    retry_at = now + timedelta(seconds=5)
    assert (
        jobs.fail(db, job.id, worker="w", attempt=1, error="boom 1", retry_at=retry_at, now=now) == "queued"
    )
    assert jobs.claim(db, job.id, worker="w", lease=LEASE, now=now) is None  # backing off
    jobs.claim(db, job.id, worker="w", lease=LEASE, now=retry_at)
    status = jobs.fail(db, job.id, worker="w", attempt=2, error="boom 2", retry_at=retry_at, now=retry_at)
    assert status == "dead"  # out of attempts, even though a retry time was offered
    dead = jobs.get(db, job.id)
    assert dead is not None and dead.last_error == "boom 2"
    assert [e["error"] for e in dead.errors] == ["boom 1", "boom 2"]
    # Retry (the button) queues it again with fresh attempts.
    revived = jobs.revive(db, job.id, retry_at)
    assert revived is not None and revived.status == "queued" and revived.attempts == 0
    assert jobs.revive(db, job.id, retry_at) is None


def test_cancel_only_before_it_starts(db):
    with transaction(db) as s:
        a = jobs.enqueue(s, kind="k", key="key-5")
        b = jobs.enqueue(s, kind="k", key="key-6")
    now = utcnow()
    with transaction(db) as s:
        assert jobs.cancel(s, a.id, now)
    jobs.claim(db, b.id, worker="w", lease=LEASE, now=now)
    with transaction(db) as s:
        assert not jobs.cancel(s, b.id, now)
    assert jobs.claim(db, a.id, worker="w", lease=LEASE, now=now) is None
    cancelled = jobs.get(db, a.id)
    assert cancelled is not None and cancelled.status == "cancelled"


def test_a_job_that_kills_its_worker_every_time_is_buried(db):
    with transaction(db) as s:
        job = jobs.enqueue(s, kind="k", key="key-7", max_attempts=2)
    t = utcnow()
    for _ in range(2):  # two attempts, each worker dies (never finishes)
        assert jobs.claim(db, job.id, worker="w", lease=LEASE, now=t) is not None
        t += LEASE + timedelta(seconds=1)
    assert jobs.expired(db, t) == []  # no attempts left to take over
    [buried] = jobs.bury_exhausted(db, t)
    assert buried.id == job.id
    dead = jobs.get(db, job.id)
    assert dead is not None and dead.status == "dead" and "worker stopped" in (dead.last_error or "")
    assert jobs.bury_exhausted(db, t) == []


def test_two_claimers_racing_over_many_jobs_never_take_one_job_both(db):
    with transaction(db) as s:
        ids = [jobs.enqueue(s, kind="k", key=f"race-{i}").id for i in range(30)]
    now = utcnow()
    taken: dict[str, list[str]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def claim_all(name: str) -> None:
        barrier.wait()
        for job_id in ids:  # both go down the same list, so they collide on every job
            if jobs.claim(db, job_id, worker=name, lease=LEASE, now=now) is not None:
                taken[name].append(job_id)

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken["a"] + taken["b"]) == sorted(ids)  # each job went to exactly one claimer
    for name, claimed in taken.items():
        for job_id in claimed:
            job = jobs.get(db, job_id)
            assert job is not None and job.worker == name and job.attempts == 1


def test_a_claims_unflushed_commit_ends_with_the_claim(db):
    """On PostgreSQL a claim commits without waiting for the WAL flush; whatever uses its connection
    next (a request's transaction, a finish) commits durably again."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has no synchronous_commit")
    one = create_engine(db.url, poolclass=StaticPool)  # one connection, so the next use is the same one
    try:
        with transaction(db) as s:
            job = jobs.enqueue(s, kind="k", key="key-flush")
        assert jobs.claim(one, job.id, worker="w", lease=LEASE, now=utcnow()) is not None
        with one.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        assert jobs.finish(one, job.id, worker="w", attempt=1, result={}, now=utcnow())
    finally:
        one.dispose()
