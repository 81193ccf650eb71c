"""Scale-out: two `coo serve` processes on one PostgreSQL take a burst of 200 Slack messages (some
delivered to both, as Slack retries do) and every message gets exactly one reply."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.bot.slack.harness import OPERATOR, SECRET, dm_event
from tests.fakes.server import serve, wait_for
from tests.fakes.slack_api import FakeSlack
from tests.services import fresh_postgres_database

N = 200
DUPLICATED = 40  # these go to both processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed(body: str) -> dict[str, str]:
    import time

    from slack_sdk.signature import SignatureVerifier

    ts = str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or "",
        "content-type": "application/json",
    }


@pytest.mark.postgres
def test_two_web_processes_reply_exactly_once(tmp_path: Path):
    fake = FakeSlack()
    with fresh_postgres_database() as db, serve(fake.app()) as fake_url:
        procs, urls, logs = [], [], []
        for i in range(2):
            port = free_port()
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_"))
            }
            env.update(
                DATABASE_URL=db,
                COO_DATA_DIR=str(tmp_path / f"web{i}"),
                PORT=str(port),
                SLACK_BOT_TOKEN=fake.token,
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_URL=f"{fake_url}/api/",
                COO_OPERATORS=f"slack:{OPERATOR}",
                COO_RATE_PER_MINUTE="1000000",
            )
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
        try:

            def up(url: str) -> bool:
                try:
                    return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(lambda: all(up(u) for u in urls), timeout=90, interval=0.2, what="both web processes")
            events = [dm_event("balance") for _ in range(N)]
            jobs = [(urls[i % 2], e) for i, e in enumerate(events)]
            jobs += [(urls[(i + 1) % 2], e) for i, e in enumerate(events[:DUPLICATED])]

            def post(job: tuple[str, dict]) -> int:
                url, event = job
                body = json.dumps(event)
                return httpx.post(
                    f"{url}/slack/events", content=body, headers=signed(body), timeout=30
                ).status_code

            with ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(post, jobs))
            assert codes == [200] * len(jobs)

            def all_done() -> bool:
                with psycopg.connect(db) as conn:
                    (left,) = conn.execute(
                        "SELECT count(*) FROM inboxitem WHERE channel = 'slack' AND status <> 'done'"
                    ).fetchone()
                    (total,) = conn.execute(
                        "SELECT count(*) FROM inboxitem WHERE channel = 'slack'"
                    ).fetchone()
                return total == N and left == 0

            wait_for(all_done, timeout=240, interval=0.2, what="all 200 messages handled")
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
