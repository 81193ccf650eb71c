"""Run an ASGI app on a loopback port in a background thread, for loopback fakes of outside APIs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.01, what: str = "condition") -> None:
    """Wait until ``condition()`` is truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", lifespan: str = "off") -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL (``http://127.0.0.1:PORT``).

    ``lifespan="on"`` runs the app's startup and shutdown hooks (coo's own server needs them).
    """
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan=lifespan, date_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="loopback server start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
