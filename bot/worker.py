"""`coo worker` and `coo digest --now`: job workers as their own process, and a digest on demand.

``coo worker`` runs Dramatiq worker threads on the configured broker, the relay (which re-hands
unfinished jobs on start and whenever a lease expires) and the playbooks' scheduler (the digest too), until SIGTERM or
SIGINT. With Redis it serves every web process; without it, it takes jobs from the shared job table.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from datetime import datetime
from types import FrameType
from zoneinfo import ZoneInfo

from bot.app import App
from bot.digest import DIGEST_KIND
from bot.notify import ConsoleOutbound, channel_of
from bot.settings import Settings
from memory.jobs import is_final

log = logging.getLogger(__name__)


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
