"""Run job actors in this process: Dramatiq worker threads and one maintenance thread.

The maintenance thread keeps the leases of running jobs alive (a heartbeat), lets the relay re-hand
jobs whose worker died or whose message was lost, and runs periodic tasks (the digest scheduler).
Used by ``coo worker`` on Redis and by ``coo run`` / ``coo serve`` in the embedded mode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from dramatiq import Worker

from graph.jobs.queue import JobQueue

log = logging.getLogger(__name__)


class Workers:
    """In-process job workers with an explicit lifecycle (``start``/``stop``, or ``with``)."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        threads: int = 4,
        tick_s: float = 1.0,
        periodic: Sequence[Callable[[], object]] = (),
        idle_timeout_ms: int = 100,
        queues: set[str] | None = None,  # only these queues (``coo worker --queues local``); None: all
    ) -> None:
        self.queues = queues
        self.queue = queue
        self.threads = threads
        self.tick_s = tick_s
        self.periodic = list(periodic)
        self.idle_timeout_ms = idle_timeout_ms
        self._worker: Worker | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0  # maintenance rounds completed (health, tests)

    def start(self) -> Workers:
        """Start the worker threads, hand over every unfinished job, then start the maintenance thread."""
        if self._worker is not None:
            return self
        broker = self.queue.broker
        # Dramatiq's CLI announces process boot; the TimeLimit middleware starts its watchdog on it.
        broker.emit_after("process_boot")
        self._worker = Worker(
            broker, queues=self.queues, worker_threads=self.threads, worker_timeout=self.idle_timeout_ms
        )
        self._worker.start()
        handed = self.queue.relay.start()
        if handed:
            log.info("relay handed %d unfinished job(s) to the workers", handed)
        self._tick()
        self._thread = threading.Thread(target=self._loop, name="coo-jobs-maintenance", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking jobs; let running ones finish for up to ``timeout_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout_s * 1000))
            self._worker = None

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            self._tick()

    def _tick(self) -> None:
        for task in (self.queue.runner.heartbeat, self.queue.relay.tick, *self.periodic):
            try:
                task()
            except Exception:  # one failing task must not stop the others, nor the loop
                log.exception("job maintenance task %s failed", getattr(task, "__qualname__", task))
        self.ticks += 1
