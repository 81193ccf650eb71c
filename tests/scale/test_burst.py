"""Scale-out: two `coo serve` processes on one PostgreSQL take a burst of 200 Slack messages (some
delivered to both, as Slack retries do) and every message gets exactly one reply; with Redis, two web
processes and two `coo worker` processes share the work, and every job's message is posted once and
finished once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.bot.slack.harness import dm_event
from tests.fakes.server import serve, wait_for
from tests.fakes.slack_api import FakeSlack
from tests.scale.procs import base_env, free_port, signed, up
from tests.services import fresh_postgres_database, redis_url

N = 200
DUPLICATED = 40  # these go to both processes


def post_all(jobs: list[tuple[str, dict]]) -> list[int]:
    def post(job: tuple[str, dict]) -> int:
        url, event = job
        body = json.dumps(event)
        return httpx.post(f"{url}/slack/events", content=body, headers=signed(body), timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(post, jobs))


def inbox_done(db: str, n: int) -> bool:
    with psycopg.connect(db) as conn:
        (left,) = conn.execute(
            "SELECT count(*) FROM inboxitem WHERE channel = 'slack' AND status <> 'done'"
        ).fetchone()
        (total,) = conn.execute("SELECT count(*) FROM inboxitem WHERE channel = 'slack'").fetchone()
    return total == n and left == 0


def replies_posted(db: str) -> bool:
    """Tell whether every reply owed is posted: a delivery is done when its reply is owed, not yet sent."""
    with psycopg.connect(db) as conn:
        (owed,) = conn.execute("SELECT count(*) FROM outboxitem WHERE status = 'pending'").fetchone()
    return owed == 0


@pytest.mark.postgres
@pytest.mark.redis
def test_two_web_and_two_worker_processes_on_postgres_and_redis(tmp_path: Path):
    # Given PostgreSQL and Redis, two `coo serve` (which run no workers with Redis) and two `coo worker`
    redis = redis_url()
    namespace = f"coo-test-{os.getpid()}-{tmp_path.name}"
    fake = FakeSlack()
    with fresh_postgres_database() as db, serve(fake.app()) as fake_url:
        procs, urls, logs = [], [], []
        try:
            for i, role in enumerate(["serve", "serve", "worker", "worker"]):
                port = free_port()
                env = base_env(
                    db,
                    fake_url,
                    fake.token,
                    tmp_path / f"p{i}",
                    REDIS_URL=redis,
                    COO_REDIS_NAMESPACE=namespace,
                    PORT=str(port),
                )
                logs.append(open(tmp_path / f"p{i}-{role}.log", "w"))  # noqa: SIM115 - closed in finally
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", role], env=env, stdout=logs[-1], stderr=logs[-1]
                    )
                )
                if role == "serve":
                    urls.append(f"http://127.0.0.1:{port}")
            wait_for(lambda: all(up(u) for u in urls), timeout=90, interval=0.2, what="both web processes")
            wait_for(
                lambda: sum("ready" in (tmp_path / f"p{i}-worker.log").read_text() for i in (2, 3)) == 2,
                timeout=90,
                interval=0.2,
                what="both workers",
            )
            # When a burst of 200 messages arrives, 40 of them jobs (re-index), 40 delivered to both webs
            events = [dm_event("reindex" if i % 5 == 0 else "balance") for i in range(N)]
            jobs = [(urls[i % 2], e) for i, e in enumerate(events)]
            jobs += [(urls[(i + 1) % 2], e) for i, e in enumerate(events[:DUPLICATED])]
            assert post_all(jobs) == [200] * len(jobs)
            wait_for(lambda: inbox_done(db, N), timeout=240, interval=0.2, what="all 200 messages handled")

            def jobs_done() -> tuple[int, int]:
                with psycopg.connect(db) as conn:
                    return conn.execute(
                        "SELECT count(*), count(*) FILTER (WHERE status = 'done') FROM job "
                        "WHERE kind = 'knowledge.reindex'"
                    ).fetchone()

            wait_for(
                lambda: jobs_done() == (N // 5, N // 5), timeout=240, interval=0.2, what="every job done"
            )
            wait_for(
                lambda: (
                    len(
                        [
                            u
                            for u in fake.to("chat.update")
                            if u.get("text", "").startswith("Memory re-indexed")
                        ]
                    )
                    >= N // 5
                ),
                timeout=60,
                what="every job's result edited in",
            )
            wait_for(lambda: replies_posted(db), timeout=120, interval=0.2, what="every owed reply posted")
            # Then every message got exactly one reply in its own thread, and each job ran and ended once
            posts = fake.to("chat.postMessage")
            assert len(posts) == N
            per_thread = Counter(p.get("thread_ts") for p in posts)
            assert set(per_thread) == {e["event"]["ts"] for e in events} and set(per_thread.values()) == {1}
            by_kind = Counter(p.get("text", "").split(":")[0].split("…")[0] for p in posts)
            assert by_kind == {"Balance": N - N // 5, "Re-indexing memory": N // 5}
            finals = [u for u in fake.to("chat.update") if u.get("text", "").startswith("Memory re-indexed")]
            assert len(finals) == N // 5 and len({u["ts"] for u in finals}) == N // 5
            # ...the jobs ran in the worker processes, not in the web ones.
            with psycopg.connect(db) as conn:
                owners = {
                    r[0] for r in conn.execute("SELECT worker FROM job WHERE kind = 'knowledge.reindex'")
                }
            worker_logs = "".join((tmp_path / f"p{i}-worker.log").read_text() for i in (2, 3))
            assert owners and all(o and f"worker {o} ready" in worker_logs for o in owners)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
            for f in logs:
                f.close()


@pytest.mark.postgres
def test_two_web_processes_reply_exactly_once(tmp_path: Path):
    fake = FakeSlack()
    with fresh_postgres_database() as db, serve(fake.app()) as fake_url:
        procs, urls, logs = [], [], []
        try:
            for i in range(2):
                port = free_port()
                env = base_env(db, fake_url, fake.token, tmp_path / f"web{i}", PORT=str(port))
                logs.append(open(tmp_path / f"web{i}.log", "w"))  # noqa: SIM115 - closed in finally
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", "serve"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=logs[-1],
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
            wait_for(lambda: all(up(u) for u in urls), timeout=90, interval=0.2, what="both web processes")
            events = [dm_event("balance") for _ in range(N)]
            jobs = [(urls[i % 2], e) for i, e in enumerate(events)]
            jobs += [(urls[(i + 1) % 2], e) for i, e in enumerate(events[:DUPLICATED])]
            assert post_all(jobs) == [200] * len(jobs)
            wait_for(lambda: inbox_done(db, N), timeout=240, interval=0.2, what="all 200 messages handled")
            # The reply is owed in the transaction that marks a delivery done, and posted after it.
            wait_for(lambda: replies_posted(db), timeout=120, interval=0.2, what="every owed reply posted")
            replies = [c.params for c in fake.calls if c.method == "chat.postMessage"]
            per_thread = Counter(r.get("thread_ts") for r in replies)
            assert len(replies) == N
            assert set(per_thread) == {e["event"]["ts"] for e in events} and set(per_thread.values()) == {1}
            assert all("Balance: $0.00." in r.get("text", "") for r in replies)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
            for f in logs:
                f.close()
