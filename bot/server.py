"""The HTTP server (`coo serve`): one Starlette app that mounts each configured channel's routes.

A channel module exposes ``mount(app) -> Mount | None`` (None when it is not configured); the server adds
its routes and runs its startup/shutdown hooks (e.g. recovering the inbox, starting polling).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.metrics import render as render_metrics

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


@dataclass
class Mount:
    """What a channel adds to the server."""

    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    startup: list[Hook] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None


def build_server(app: App, mounts: list[Mount]) -> Starlette:
    """Return the ASGI app: the channels' routes plus /healthz and /metrics."""

    async def healthz(_request: Request) -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            await asyncio.to_thread(app.engine.status)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - health reports the failure class only
            checks["database"] = f"error: {type(exc).__name__}"
        for m in mounts:
            if m.health is not None:
                checks[m.name] = await m.health()
        ok = all(v == "ok" or (isinstance(v, dict) and v.get("ok", True)) for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)

    async def metrics(_request: Request) -> PlainTextResponse:
        text = await asyncio.to_thread(render_metrics, app.db)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for m in mounts:
            for hook in m.startup:
                await hook()
        try:
            yield
        finally:
            for m in reversed(mounts):
                for hook in m.shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown of %s failed", m.name)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
    for m in mounts:
        routes += m.routes
    return Starlette(routes=routes, lifespan=lifespan)


def configured_mounts(app: App) -> list[Mount]:
    """Return the mounts of every channel configured in settings."""
    mounts: list[Mount] = []
    for module_name in ("bot.slack", "bot.telegram", "bot.hooks"):
        try:
            module = __import__(module_name, fromlist=["mount"])
        except ImportError:
            continue
        mount = module.mount(app)
        if mount is not None:
            mounts.append(mount)
    return mounts


def serve(app: App, host: str = "0.0.0.0") -> None:
    """Run the HTTP server until interrupted."""
    import uvicorn

    server = build_server(app, configured_mounts(app))
    uvicorn.run(server, host=host, port=app.settings.port, log_level="info")
