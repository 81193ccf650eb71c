"""kill -9 a worker process in the middle of a job; after a restart the job finishes and its effect
(an email on a loopback SMTP server) happened once. Against real Redis (with PostgreSQL) and in the
embedded mode (Dramatiq's in-memory broker over the SQLite job table), with real `coo worker` processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app import App
from bot.console import ConsoleSession
from memory.job_tables import Job
from tests.conftest import make_settings
from tests.fakes.server import wait_for
from tests.fakes.smtp_server import smtp_server
from tests.services import fresh_postgres_database, redis_url


@contextmanager
def deployment(mode: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Yield the settings both sides share: embedded (SQLite, no broker server) or Redis + PostgreSQL."""
    if mode == "embedded":
        yield {}
        return
    url = redis_url()
    namespace = f"coo-test-{uuid.uuid4().hex[:8]}"
    with fresh_postgres_database() as db_url:
        try:
            yield {"redis_url": url, "coo_redis_namespace": namespace, "database_url": db_url}
        finally:
            import redis

            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(f"{namespace}*"))
            if keys:
                client.delete(*keys)


class WorkerProcess:
    """`python -m bot.cli worker` with the given settings as environment, its output in a file."""

    def __init__(self, tmp_path: Path, settings: dict[str, Any], name: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_", "SMTP_"))
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.update({k.upper(): str(v) for k, v in settings.items()})
        self.log = tmp_path / f"{name}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker"],
            env=env,
            cwd=tmp_path,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: "ready" in self.output() or self.proc.poll() is not None, timeout=60, what=f"{name} start"
        )
        match = re.search(r"worker (\S+) ready", self.output())
        assert match, self.output()
        self.name = match.group(1)

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._out.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self._out.close()
        return code


def send_job(app: App) -> Job | None:
    with Session(app.db) as s:
        return s.exec(select(Job).where(Job.kind == "outreach.send_email")).first()


@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_kill_9_mid_job_then_restart_finishes_it_once(mode, tmp_path, use_embedder):
    with smtp_server() as (sink, smtp_url), deployment(mode, tmp_path) as shared:
        settings = {
            **shared,
            "smtp_url": smtp_url,
            "coo_email_from": "coo@example.com",
            "coo_undo_window_s": 0,
            "coo_job_lease_s": 1.0,
            "coo_job_tick_s": 0.1,
        }
        app = App(
            make_settings(tmp_path / "data", **settings), embedder=use_embedder
        )  # the web side: asks and approves
        try:
            # Given a worker process, and an approved email whose send is in progress on it...
            sink.hold.set()
            env = {**settings, "coo_data_dir": tmp_path / "data"}
            first = WorkerProcess(tmp_path, env, "worker-1")
            chat = ConsoleSession(app)
            chat.send("email dana@example.org Invoice 42: Please find the invoice attached.")
            chat.send("approve")
            wait_for(lambda: sink.holding >= 1, timeout=30, what="the worker to be mid-send")
            job = send_job(app)
            assert job is not None and job.status == "running" and job.worker == first.name

            # ...when the worker is killed with SIGKILL in the middle of it, and another starts,
            first.kill()
            sink.hold.clear()
            second = WorkerProcess(tmp_path, env, "worker-2")
            wait_for(
                lambda: (j := send_job(app)) is not None and j.status == "done", timeout=60, what="job done"
            )

            # then the job finished on the new worker, and the email went out exactly once.
            done = send_job(app)
            assert done is not None and done.attempts == 2 and done.worker == second.name
            assert second.stop() == 0, second.output()
            [msg] = sink.messages
            assert msg["Message-ID"] == f"<{done.key}@example.com>"
            assert sink.holding == 1
        finally:
            app.close()
