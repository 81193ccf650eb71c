"""The job machinery in one process: Dramatiq's in-memory broker and real Worker threads over the job table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, TimeLimit
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from graph.jobs.errors import BadKind, JobFailed
from graph.jobs.kinds import JobContext, JobInfo, JobKind, JobProgress, JobResult
from graph.jobs.queue import JobQueue
from graph.jobs.runner import Lease
from graph.jobs.workers import Workers
from memory import jobs
from memory.db import make_engine, transaction
from memory.tables import Task, utcnow
from tests.fakes.server import wait_for


class Recorder:
    """A JobReporter that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []
        self.lock = threading.Lock()

    def progress(self, job: JobInfo, text: str) -> None:
        with self.lock:
            self.events.append(("progress", job.id, text))

    def finished(self, job: JobInfo, result: JobResult) -> None:
        with self.lock:
            self.events.append(("finished", job.id, result.text))

    def failed(self, job: JobInfo, error: str, retry_in_s: float | None) -> None:
        with self.lock:
            self.events.append(("failed", job.id, (error, retry_in_s)))

    def of(self, job_id: str, what: str) -> list[object]:
        with self.lock:
            return [e[2] for e in self.events if e[1] == job_id and e[0] == what]


def note(ctx: JobContext) -> JobResult:
    """The effect: a task row keyed by the job's key (a second one would break the unique key)."""
    with transaction(ctx.db) as s:
        if s.exec(select(Task).where(Task.idempotency_key == ctx.key)).first() is None:
            s.add(Task(text=str(ctx.args.get("text", "")), idempotency_key=ctx.key))
    return JobResult(text=f"noted {ctx.args.get('text')}")


def tasks(db: Engine) -> int:
    with Session(db) as s:
        return int(s.exec(select(func.count()).select_from(Task)).one())


def status(db: Engine, job_id: str) -> str:
    job = jobs.get(db, job_id)
    return job.status if job else "missing"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'coo.sqlite'}")
    yield engine
    engine.dispose()


def make_queue(db: Engine, kinds: list[JobKind], reporter: Recorder, lease_s: float = 30.0) -> JobQueue:
    broker = StubBroker(middleware=[TimeLimit(interval=20), Retries(max_retries=0)])
    return JobQueue(
        db,
        broker,
        kinds,
        reporter,
        worker=f"test-{id(broker)}",
        shared_broker=False,
        lease=Lease(lease_s),
        progress_interval_s=0,
        stale_s=30,
    )


def test_a_job_delivered_three_times_runs_once(db):
    rec = Recorder()
    queue = make_queue(db, [JobKind("note", note)], rec)
    with Workers(queue, threads=4, tick_s=0.05):
        job = queue.submit("note", key="k1", args={"text": "hello"})
        for _ in range(2):  # Dramatiq delivers at least once: simulate two extra deliveries
            queue.actors["note"].send(job.id)
        wait_for(lambda: sum(queue.runner.ran.values()) >= 3, what="three deliveries handled")
    assert status(db, job.id) == "done" and tasks(db) == 1
    assert queue.runner.ran["done"] == 1 and queue.runner.ran["skipped"] == 2
    assert rec.of(job.id, "finished") == ["noted hello"]
    queue.close()


def test_retries_with_backoff_record_every_attempt_then_succeed(db):
    def flaky(ctx: JobContext) -> JobResult:
        if ctx.job.attempt < 3:
            raise JobFailed(f"flake {ctx.job.attempt}")
        return note(ctx)

    rec = Recorder()
    queue = make_queue(db, [JobKind("flaky", flaky, max_retries=3, backoff_s=0.05)], rec)
    with Workers(queue, threads=2, tick_s=0.05):
        job = queue.submit("flaky", key="k2")
        wait_for(lambda: status(db, job.id) == "done", what="flaky job done")
    done = jobs.get(db, job.id)
    assert done is not None and done.attempts == 3
    assert [e["error"] for e in done.errors] == ["flake 1", "flake 2"]
    assert rec.of(job.id, "failed") == [("flake 1", 0.05), ("flake 2", 0.1)]
    assert len(rec.of(job.id, "finished")) == 1 and tasks(db) == 1
    queue.close()


def test_poison_jobs_become_dead_letters_and_do_not_block_the_others(db):
    def hang(ctx: JobContext) -> JobResult:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # pure Python, so Dramatiq's time limit can interrupt it
            time.sleep(0.005)
        return JobResult(text="never")

    def crash(ctx: JobContext) -> JobResult:
        raise ValueError("bad data")

    rec = Recorder()
    kinds = [
        JobKind("note", note),
        JobKind("hang", hang, time_limit_s=0.3, max_retries=1, backoff_s=0),
        JobKind("crash", crash, max_retries=0),
    ]
    queue = make_queue(db, kinds, rec)
    with Workers(queue, threads=2, tick_s=0.05):
        hung = queue.submit("hang", key="h")
        crashed = queue.submit("crash", key="c")
        notes = [queue.submit("note", key=f"n{i}", args={"text": str(i)}) for i in range(6)]
        wait_for(lambda: all(status(db, j.id) == "done" for j in notes), what="good jobs done")
        wait_for(
            lambda: status(db, hung.id) == "dead" and status(db, crashed.id) == "dead", what="poison dead"
        )
    assert tasks(db) == 6
    dead_hang, dead_crash = jobs.get(db, hung.id), jobs.get(db, crashed.id)
    assert dead_hang is not None and dead_hang.attempts == 2
    assert dead_hang.last_error == "it took longer than its limit of 0.3 s"
    assert (
        dead_crash is not None and dead_crash.last_error == "an unexpected error (ValueError); it was logged"
    )
    assert rec.of(crashed.id, "failed") == [("an unexpected error (ValueError); it was logged", None)]
    queue.close()


def test_a_job_held_by_a_dead_worker_is_taken_over_when_its_lease_expires(db):
    rec = Recorder()
    queue = make_queue(db, [JobKind("note", note)], rec, lease_s=0.3)
    with transaction(db) as s:  # written before any queue listened: only the relay can find it
        job = jobs.enqueue(s, kind="note", key="k4", args={"text": "orphan"})
    ghost = jobs.claim(db, job.id, worker="ghost", lease=timedelta(seconds=0.3), now=utcnow())
    assert ghost is not None  # a worker took it, then died without a word
    with Workers(queue, threads=2, tick_s=0.05):
        wait_for(lambda: status(db, job.id) == "done", what="job taken over")
    done = jobs.get(db, job.id)
    assert done is not None and done.attempts == 2 and done.worker == queue.runner.worker
    assert tasks(db) == 1
    queue.close()


def test_relay_hands_over_queued_jobs_on_start_and_a_cancelled_one_never_runs(db):
    with transaction(db) as s:
        waiting = jobs.enqueue(s, kind="note", key="k5", args={"text": "left over"})
        later = jobs.enqueue(s, kind="note", key="k6", run_at=utcnow() + timedelta(seconds=0.3))
    with transaction(db) as s:
        assert jobs.cancel(s, later.id, utcnow())
    rec = Recorder()
    queue = make_queue(db, [JobKind("note", note)], rec)
    with Workers(queue, threads=2, tick_s=0.05):
        wait_for(lambda: status(db, waiting.id) == "done", what="left-over job done")
        queue.actors["note"].send_with_options(args=(later.id,), delay=300)  # its delayed message arrives
        wait_for(lambda: queue.runner.ran.get("skipped", 0) >= 1, what="cancelled job's message handled")
    assert status(db, later.id) == "cancelled" and tasks(db) == 1
    queue.close()


def test_progress_is_throttled_and_a_lost_lease_stops_the_work():
    shown: list[str] = []
    clock = [0.0]
    held = [True]
    info = JobInfo("job_1", "k", "key", "the job", "c", 1, 3, "job:job_1")
    p = JobProgress(
        info, record=lambda line: held[0], show=shown.append, min_interval_s=1.0, clock=lambda: clock[0]
    )
    p.update("one", step=1, of=3)
    p.update("two", step=2, of=3)  # within the interval: recorded, not shown
    clock[0] = 1.5
    p.update("three", step=3, of=3)
    assert shown == ["one (1/3)", "three (3/3)"] and p.last == "three (3/3)"
    held[0] = False
    with pytest.raises(Exception, match="taken over"):
        p.update("four")


def test_kind_options_are_checked_when_declared():
    with pytest.raises(BadKind, match="time_limit_s must be > 0"):
        JobKind("x", note, time_limit_s=0)
    with pytest.raises(BadKind, match="use letters"):
        JobKind("no spaces", note)
