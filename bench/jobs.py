"""Throughput of a no-op job through our job table (enqueue in a transaction, claim, finish) against raw
Dramatiq (actor.send, the same no-op) on the same broker and worker threads, measured in one run.

Brokers: Dramatiq's in-memory StubBroker with the SQLite job table (the embedded default), and Redis
with PostgreSQL (the scale-out pair) when both are reachable on 127.0.0.1. Prints jobs/s and the ratio.

Each enqueue commits a transaction of its own, as a request would, and that commit must be durable. So
the database's floor is measured in the same run too: sequential one-row INSERT + COMMIT transactions
per second through the bare driver, the most any producer that commits each job can do. floor / raw is
the highest ratio such a producer can reach; the job table's jobs/s is also shown against the floor.

Run: .venv/bin/python bench/jobs.py [--n 2000] [--threads 4]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dramatiq  # noqa: E402
from dramatiq import Worker  # noqa: E402
from dramatiq.broker import Broker  # noqa: E402
from dramatiq.brokers.stub import StubBroker  # noqa: E402
from dramatiq.middleware import Retries, TimeLimit  # noqa: E402

from graph.jobs.kinds import JobContext, JobKind, JobResult, NullReporter  # noqa: E402
from graph.jobs.queue import JobQueue  # noqa: E402
from graph.jobs.runner import Lease  # noqa: E402
from graph.jobs.workers import Workers  # noqa: E402
from memory.db import make_engine, transaction  # noqa: E402


def middleware() -> list:
    return [TimeLimit(interval=100), Retries(max_retries=0)]


def up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait(done: Callable[[], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("jobs did not finish")
        time.sleep(0.001)


def raw(broker: Broker, n: int, threads: int) -> float:
    """Jobs per second of a no-op actor sent straight to Dramatiq."""
    count = [0]
    lock = threading.Lock()

    def noop(i: int) -> None:
        with lock:
            count[0] += 1

    actor = dramatiq.actor(broker=broker, actor_name="raw_noop", max_retries=0)(noop)
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        t0 = time.perf_counter()
        for i in range(n):
            actor.send(i)
        wait(lambda: count[0] >= n)
        return n / (time.perf_counter() - t0)
    finally:
        worker.stop()


def ours(broker: Broker, db_url: str, n: int, threads: int, shared: bool) -> float:
    """Jobs per second of a no-op job kind through the job table, one transaction per job."""
    db = make_engine(db_url)

    def noop(ctx: JobContext) -> JobResult:
        return JobResult(text="")

    queue = JobQueue(
        db,
        broker,
        [JobKind("bench.noop", noop)],
        NullReporter(),
        worker="bench",
        shared_broker=shared,
        lease=Lease(60),
    )
    workers = Workers(queue, threads=threads, tick_s=5.0).start()
    try:
        run = uuid.uuid4().hex[:8]
        t0 = time.perf_counter()
        for i in range(n):
            with transaction(db) as s:  # as a request would: the job commits with the request's writes
                queue.enqueue(s, "bench.noop", key=f"{run}:{i}")
        wait(lambda: queue.runner.ran.get("done", 0) >= n)
        return n / (time.perf_counter() - t0)
    finally:
        workers.stop()
        queue.close()
        db.dispose()


def floor(db_url: str, n: int) -> float:
    """Sequential one-row INSERT + COMMIT transactions per second, through the bare DB-API driver."""
    db = make_engine(db_url)
    conn = db.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE bench_floor (id VARCHAR(40) PRIMARY KEY)")
        conn.commit()
        t0 = time.perf_counter()
        for _ in range(n):
            cur.execute(f"INSERT INTO bench_floor (id) VALUES ('{uuid.uuid4().hex}')")
            conn.commit()
        rate = n / (time.perf_counter() - t0)
        cur.execute("DROP TABLE bench_floor")
        conn.commit()
        return rate
    finally:
        conn.close()
        db.dispose()


def report(label: str, base: float, mine: float, bound: float) -> None:
    print(f"{label}")
    print(f"  raw Dramatiq           {base:9.0f} jobs/s   ratio 1.00")
    print(
        f"  through the job table  {mine:9.0f} jobs/s   ratio {mine / base:.3f}   {mine / bound:.2f} of the floor"
    )
    print(
        f"  floor (INSERT+COMMIT)  {bound:9.0f} txn/s    ratio {bound / base:.3f}   (the most it can reach)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    print(f"no-op jobs: {args.n} per run, {args.threads} worker threads")
    with tempfile.TemporaryDirectory() as tmp:
        base = raw(StubBroker(middleware=middleware()), args.n, args.threads)
        bound = floor(f"sqlite:///{tmp}/bench.sqlite", args.n)
        mine = ours(
            StubBroker(middleware=middleware()), f"sqlite:///{tmp}/bench.sqlite", args.n, args.threads, False
        )
        report("embedded: StubBroker + SQLite job table", base, mine, bound)
    if up(6379) and up(5432):
        from dramatiq.brokers.redis import RedisBroker

        from tests.services import fresh_postgres_database

        namespace = f"coo-bench-{uuid.uuid4().hex[:6]}"
        redis_url = "redis://127.0.0.1:6379/0"
        n = max(args.n // 2, 1)
        with fresh_postgres_database() as pg:
            base = raw(
                RedisBroker(url=redis_url, namespace=namespace + "-raw", middleware=middleware()),
                n,
                args.threads,
            )
            bound = floor(pg, n)
            broker = RedisBroker(url=redis_url, namespace=namespace, middleware=middleware())
            mine = ours(broker, pg, n, args.threads, True)
            report(f"scale-out: Redis + PostgreSQL job table ({n} jobs)", base, mine, bound)
            broker.client.delete(*(broker.client.keys(f"{namespace}*") or [b"-"]))
    else:
        print("scale-out: skipped (Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 are needed)")


if __name__ == "__main__":
    main()
