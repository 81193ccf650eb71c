"""The operator's web console under /ui, served by `coo serve` on the same port (see `bot.ui.web`).

`mount(app)` is what the server calls; `/login` and `/logout all` in chat (`bot.commands`) call
`login_reply` and `logout_reply`. In the console (`coo chat`, no HTTP server), `/login` starts the web
console on 127.0.0.1:PORT in this process first, so the link works on the embedded defaults.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

from bot.messages import Reply

if TYPE_CHECKING:
    from bot.app import App
    from bot.server import Mount

log = logging.getLogger(__name__)

_SERVED: set[int] = set()  # id() of Apps whose web console is mounted in this process
_LOCK = threading.Lock()


def mount(app: App) -> Mount:
    """Return the web console's mount for `coo serve`."""
    from bot.server import Mount
    from bot.ui.web import Console

    console = Console(app)
    _SERVED.add(id(app))
    return Mount(name="ui", routes=console.routes(), shutdown=[console.close])


def login_reply(app: App, actor: str, args: str = "") -> list[Reply]:
    """Answer ``/login``: a one-time link to the web console (operators only)."""
    from bot.ui.auth import LINK_TTL, link_for

    link = link_for(app, actor)
    if link is None:
        log.warning("ui: refused a sign-in link to %s (not an operator)", actor)
        return [Reply(text="Only this workspace's operators can sign in to the web console.")]
    if actor.startswith("console:"):
        problem = ensure_served(app)
        if problem:
            return [Reply(text=problem)]
    minutes = int(LINK_TTL.total_seconds() // 60)
    return [Reply(text=f"Sign in to the web console (the link works once, for {minutes} minutes): {link}")]


def logout_reply(app: App, actor: str, args: str = "") -> list[Reply]:
    """Answer ``/logout all``: end every web session of this operator."""
    from memory import ui_sessions

    if args.strip().lower() != "all":
        return [Reply(text="Usage: /logout all (ends every web console session of yours)")]
    if not app.is_operator(actor):
        return [Reply(text="Only this workspace's operators have web console sessions.")]
    n = ui_sessions.revoke_all(app.db, actor)
    return [
        Reply(text=f"Signed out of the web console everywhere ({n} session{'s' if n != 1 else ''} ended).")
    ]


def ensure_served(app: App) -> str | None:
    """Serve the web console from this process when nothing serves it yet (the console's case).

    Returns a sentence when the port is taken by something else, else None.
    """
    with _LOCK:
        if id(app) in _SERVED:
            return None
        port = app.settings.port
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                _SERVED.add(id(app))  # `coo serve` on the same data dir, presumably: its link works
                return None
        import uvicorn
        from starlette.applications import Starlette
        from starlette.middleware import Middleware

        from bot.bodies import BodyGuard

        guard = Middleware(
            BodyGuard, max_bytes=app.settings.coo_max_body_bytes, timeout_s=app.settings.coo_body_timeout_s
        )
        ui = mount(app)
        asgi = Starlette(routes=ui.routes, middleware=[guard])
        server = uvicorn.Server(
            uvicorn.Config(
                asgi,
                host=app.settings.coo_host or "127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
            )
        )
        thread = threading.Thread(target=server.run, name="coo-ui", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # the link is shown only once the console answers
            if not thread.is_alive() or time.monotonic() > deadline:
                return f"The web console could not start on port {port}; set PORT to a free port."
            time.sleep(0.01)

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=5)

        app.on_close(stop)
        log.info("ui: serving the web console on %s:%d", app.settings.coo_host or "127.0.0.1", port)
        return None
