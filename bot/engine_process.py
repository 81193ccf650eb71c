"""Engine work in a process of its own, so that the HTTP process only acknowledges.

With ``COO_ENGINE_PROCESS`` on, `coo serve` verifies a request, records it in the durable inbox,
answers 200 and wakes the engine process (one byte on a pipe). The engine process takes what the inbox
holds with the same claims, leases and sweeps as one process would (memory/owner.py), runs the engine
and posts the replies through the outbox. It pulls: each look claims at most as many deliveries as it
has turns free, skipping rows another process is claiming, and a turn's end looks again, so that the
engine processes of several `coo serve` split a backlog instead of racing for all of it. Nothing but acknowledgements then shares the HTTP process's
event loop and GIL: a turn's CPU work (seconds for a burst) no longer delays a 200.

The two share their fate as if they were one process: the engine process exits at once when the HTTP
process dies (its end of the pipe closes), and the HTTP process exits when the engine process dies
unexpectedly, so that whatever restarts `coo serve` restarts both, and the restart's sweep takes over
what the dead one held (its pid is gone: memory/owner.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings
    from graph.planner import Planner

log = logging.getLogger(__name__)

POLL_S = 1.0  # the engine process also looks without being woken (a wake lost to a full pipe)
DIED = 70  # the HTTP process's exit status when its engine process died


class EngineDoor(Protocol):
    """What the engine process runs for a channel (the channel's front door without its HTTP side)."""

    async def start(self) -> None:
        """Recover what a crash left and start sweeping."""

    async def take_new(self) -> object:
        """Claim as many deliveries nobody holds as there is room for, and start them."""

    def on_turn_end(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` whenever a delivery's work ends (so that the backlog is pulled)."""

    async def stop(self) -> None:
        """Let the work in flight finish."""


DoorFactory = Callable[["App"], EngineDoor]


class EngineProcess:
    """The HTTP process's handle on its engine process: start it, wake it, stop it.

    Args:
        settings: What the engine process builds its App from.
        door: Builds the front door the engine process runs from its App (picklable: a module-level
            function or a ``functools.partial`` of one).
        planner: A planner object to use instead of the configured one (benchmarks; picklable).
    """

    def __init__(self, settings: Settings, door: DoorFactory, planner: Planner | None = None) -> None:
        self.settings = settings
        self.door = door
        self.planner = planner
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._wake_fd: int | None = None
        self._writer: Connection | None = None
        self._stopping = False
        self._ready: Connection | None = None  # the engine process writes to it once it takes work
        self._is_ready = False

    def start(self) -> None:
        """Start the engine process, and the watch that ends this process if it dies."""
        ctx = multiprocessing.get_context("spawn")  # a fork would copy this process's threads' locks
        reader, writer = ctx.Pipe(duplex=False)
        ready_reader, ready_writer = ctx.Pipe(duplex=False)  # a pipe, not an Event: no semaphore to leak
        proc = ctx.Process(
            target=child_main,
            args=(self.settings, self.door, self.planner, reader, ready_writer),
            name="coo-engine",
        )
        proc.start()
        reader.close()
        ready_writer.close()
        self._ready = ready_reader
        self._proc, self._writer = proc, writer
        self._wake_fd = writer.fileno()
        os.set_blocking(self._wake_fd, False)
        threading.Thread(target=self._watch, name="coo-engine-watch", daemon=True).start()
        log.info("engine process %s started", proc.pid)

    def wake(self) -> None:
        """Tell the engine process that the inbox has something new (never blocks)."""
        if self._wake_fd is None:
            return
        try:
            os.write(self._wake_fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wakes it has not read yet: it will look anyway
        except OSError:
            log.warning("the engine process could not be woken", exc_info=True)

    def _watch(self) -> None:
        assert self._proc is not None
        self._proc.join()
        if not self._stopping:
            log.error(
                "the engine process died (exit %s); coo serve stops so that both restart together",
                self._proc.exitcode,
            )
            logging.shutdown()
            os._exit(DIED)

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the engine process to finish its work in flight and exit; kill it after ``timeout``."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()  # SIGTERM: it drains, then exits
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if self._writer is not None:
            self._writer.close()
            self._writer = self._wake_fd = None
        if self._ready is not None:
            self._ready.close()
            self._ready = None

    @property
    def ready(self) -> bool:
        """Tell whether the engine process has started taking work (its App built, its recovery begun)."""
        if not self._is_ready and self._ready is not None:
            try:
                self._is_ready = self._ready.poll()
            except OSError:
                return False
        return self._is_ready

    @property
    def pid(self) -> int | None:
        """The engine process's pid (None before `start`)."""
        return self._proc.pid if self._proc is not None else None


def child_main(
    settings: Settings, door: DoorFactory, planner: Planner | None, wake: Connection, ready: Connection
) -> None:
    """Run the engine process until SIGTERM, or until the HTTP process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s engine %(levelname)s %(name)s: %(message)s"
        )
    asyncio.run(_run(settings, door, planner, wake, ready))


async def _run(
    settings: Settings, make_door: DoorFactory, planner: Planner | None, wake: Connection, ready: Connection
) -> None:
    from bot.app import App
    from bot.server import warm_embedder
    from graph.faults import Faults

    loop = asyncio.get_running_loop()
    stop, woken = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    fd = wake.fileno()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:  # the HTTP process is gone: go with it, as one process would
            os._exit(0)
        woken.set()

    loop.add_reader(fd, readable)
    with App(settings, planner=planner, faults=Faults.from_env()) as app:  # faults: crash tests only
        await asyncio.to_thread(warm_embedder, app)
        door = make_door(app)
        door.on_turn_end(woken.set)  # a turn's end makes room: look again, as a wake does
        await door.start()
        ready.send_bytes(b"ready")
        log.info("engine process %s ready", os.getpid())
        while not stop.is_set():
            waiting = [asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(waiting, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
            for f in pending:
                f.cancel()
            if stop.is_set():
                break
            woken.clear()
            try:
                await door.take_new()
            except Exception:  # noqa: BLE001 - a database hiccup: the next wake or poll looks again
                log.warning("engine process: taking new deliveries failed", exc_info=True)
        loop.remove_reader(fd)
        await door.stop()
