"""`coo worker` and `coo digest --now`: job workers as their own process, and a digest on demand.

``coo worker`` runs Dramatiq worker threads on the configured broker, the relay (which re-hands
unfinished jobs on start and whenever a lease expires) and the digest scheduler, until SIGTERM or
SIGINT. With Redis it serves every web process; without it, it takes jobs from the shared job table.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from datetime import datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import App
from bot.digest import DIGEST_KIND
from bot.notify import ConsoleOutbound, channel_of
from bot.settings import Settings
from memory.job_tables import Job
from memory.jobs import is_final

log = logging.getLogger(__name__)


PRESENCE_TTL_S = 15.0  # a worker that stops beating is gone after this


def _redis(app: App) -> Any:
    import redis

    return redis.Redis.from_url(app.settings.redis_url or "", socket_timeout=3)


def _presence_prefix(app: App) -> str:
    return f"{app.settings.coo_redis_namespace}:coo-workers:"


def all_queues(app: App) -> set[str]:
    """Return the queues of every job kind this App declares."""
    return {actor.queue_name for actor in app.jobs.actors.values()}


def consumed_queues(app: App) -> set[str] | None:
    """Return the queues this process's workers take; None: every queue.

    ``coo worker --queues local`` (COO_WORKER_QUEUES) takes only those. Otherwise, on Redis, a worker
    takes every queue but those COO_PLACEMENT moves agents to (a worker started with ``--queues`` on the
    operator's machine runs them); embedded, the only workers are in this process, so they take all.
    """
    s = app.settings
    if s.coo_worker_queues:
        return set(s.coo_worker_queues)
    if not s.redis_url:
        return None
    placed = set(s.placement().queues())
    return (all_queues(app) - placed) or None


def placement_options(app: App, periodic: list[Any]) -> dict[str, Any]:
    """Return the Workers options for this process: its queues, and the periodic tasks with its beat."""
    queues = consumed_queues(app)
    tasks = list(periodic)
    if app.settings.redis_url:
        name = app.jobs.runner.worker
        taken = sorted(queues if queues is not None else all_queues(app))

        def beat() -> None:  # who is alive, and which queues it takes, for /status and the digest
            try:
                _redis(app).set(_presence_prefix(app) + name, json.dumps(taken), ex=int(PRESENCE_TTL_S))
            except Exception:  # noqa: BLE001 - presence is advisory; a worker keeps working without it
                log.warning("worker presence not recorded", exc_info=True)

        tasks.append(beat)
    return {"periodic": tasks, "queues": queues}


def live_queues(app: App) -> set[str] | None:
    """Return the queues some live worker takes (Redis presence); None when this process runs them all."""
    if not app.settings.redis_url:
        return None
    client = _redis(app)
    out: set[str] = set()
    for key in client.scan_iter(match=_presence_prefix(app) + "*"):
        raw = client.get(key)
        if raw:
            out.update(json.loads(raw))
    return out


def waiting_lines(app: App) -> list[str]:
    """Return, per queue that no live worker takes, how many jobs wait on it (for /status, the digest)."""
    try:
        live = live_queues(app)
    except Exception:  # noqa: BLE001 - Redis down: doctor and the broker say so; nothing to add here
        return []
    if live is None:
        return []
    queue_of = {kind: actor.queue_name for kind, actor in app.jobs.actors.items()}
    with Session(app.db) as s:
        rows = s.exec(select(Job.kind, func.count()).where(Job.status == "queued").group_by(Job.kind)).all()
    waiting: dict[str, int] = {}
    for kind, n in rows:
        queue = queue_of.get(kind, "?")
        if queue not in live:
            waiting[queue] = waiting.get(queue, 0) + int(n)
    return [
        f"{n} job(s) waiting on queue {q!r}: no live worker takes it (start `coo worker --queues {q}`)"
        for q, n in sorted(waiting.items())
    ]


def run_worker(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run workers until ``stop`` is set or the process gets SIGTERM/SIGINT."""
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the workers", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    with App(settings) as app:
        workers = app.start_workers()
        broker = "Redis" if settings.redis_url else "the job table (embedded broker)"
        log.warning("coo worker %s is taking jobs from %s", app.jobs.runner.worker, broker)
        queues = ", ".join(sorted(workers.queues)) if workers.queues else "all queues"
        print(
            f"worker {app.jobs.runner.worker} ready ({broker}, {workers.threads} threads, {queues})",
            flush=True,
        )
        stop.wait()
    return 0


def digest_now(settings: Settings) -> int:
    """Build and send one digest at once to COO_DIGEST_TO (the terminal when unset); 0 on success."""
    from bot.console import format_reply

    destination = settings.coo_digest_to or "console:local"
    with App(settings) as app:
        if channel_of(destination) == "console":
            import sys

            app.notifier.register("console", ConsoleOutbound(sys.stdout, format_reply))
        day = datetime.now(ZoneInfo(settings.coo_timezone)).date()
        job = app.jobs.submit(
            DIGEST_KIND,
            key=f"digest:now:{uuid.uuid4().hex[:12]}",
            args={"day": day.isoformat()},
            conversation=destination,
        )
        outcome = app.jobs.runner.run(job.id)
        if outcome in ("done", "dead"):
            return 0 if outcome == "done" else 1
        # A worker elsewhere (Redis) took it first, or it failed and will be retried: wait for the end.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            current = app.jobs.get(job.id)
            if current is not None and is_final(current.status):
                return 0 if current.status == "done" else 1
            if current is not None and current.status == "queued" and app.embedded_jobs:
                outcome = app.jobs.runner.run(job.id)  # its retry is due: run it here too
            time.sleep(0.5)
        print(f"digest job {job.id} did not finish in time; see `coo runs` and /status", flush=True)
        return 1
