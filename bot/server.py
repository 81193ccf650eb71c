"""The HTTP server (`coo serve`): one Starlette app that mounts each configured channel's routes.

A channel module exposes ``mount(app) -> Mount | None`` (None when it is not configured); the server adds
its routes and runs its startup/shutdown hooks (e.g. recovering the inbox, starting polling).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.bodies import BodyGuard
from bot.metrics import render as render_metrics
from bot.retention import InboxRetention

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
    """Return the ASGI app: the channels' routes plus /healthz and /metrics, behind the body guard."""
    settings = app.settings
    retention = InboxRetention(app.db, settings.coo_inbox_retention_s)

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
        checks["inbox"] = retention.health()
        ok = all(v == "ok" or (isinstance(v, dict) and v.get("ok", True)) for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> PlainTextResponse:
        token = settings.coo_metrics_token
        if token is not None:
            given = (
                request.headers.get("authorization", "").removeprefix("Bearer ").encode("utf-8", "replace")
            )
            if not hmac.compare_digest(given, token.get_secret_value().encode()):
                log.warning("metrics: refused a request without the bearer token (401)")
                return PlainTextResponse(
                    "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        text = await asyncio.to_thread(render_metrics, app.db)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(warm_up, app)
        for m in mounts:
            for hook in m.startup:
                await hook()
        retention.start()
        try:
            yield
        finally:
            await retention.stop()
            for m in reversed(mounts):
                for hook in m.shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown of %s failed", m.name)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
    for m in mounts:
        routes += m.routes
    guard = Middleware(
        BodyGuard, max_bytes=settings.coo_max_body_bytes, timeout_s=settings.coo_body_timeout_s
    )
    return Starlette(routes=routes, lifespan=lifespan, middleware=[guard])


def warm_up(app: App) -> None:
    """Load the local embedding model before the first request, not inside the first turns.

    It loads on first use, which is the first turn that reads the knowledge store: loading it (seconds
    of pure-Python tokenizer set-up) while a burst of requests waits for their acknowledgements held the
    GIL against them. A remote embedder is left alone (warming it would be a paid call).
    """
    if app.settings.coo_engine_process:
        return  # the engine process warms its own (the turns run there); this process only acknowledges
    warm_embedder(app)


def warm_embedder(app: App) -> None:
    """Load the local embedding model now (a remote embedder is left alone)."""
    from memory.knowledge.embedders import UseEmbedder

    if isinstance(app.embedder, UseEmbedder):
        try:
            app.embedder.embed(["warm up"])
        except Exception:  # noqa: BLE001 - the first turn that needs it reports the failure
            log.warning("the local embedding model did not load at start", exc_info=True)


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


def uvicorn_config(app: App, asgi: Starlette, host: str, port: int) -> Any:
    """Return uvicorn's config for ``asgi``: idle, header and body time limits and the per-client cap."""
    import uvicorn

    from bot.connections import ConnectionLimits, guarded_protocol

    s = app.settings
    limits = ConnectionLimits(
        header_timeout_s=s.coo_header_timeout_s, max_per_client=s.coo_max_connections_per_client
    )
    return uvicorn.Config(
        asgi,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        timeout_keep_alive=max(1, round(s.coo_idle_timeout_s)),
        log_level="info",
    )


def serve(app: App, default_host: str = "0.0.0.0", extra: list[Mount] | None = None) -> None:
    """Run the HTTP server until interrupted, on COO_HOST (else ``default_host``) and PORT.

    ``extra``: mounts beyond the channels', e.g. the web console under /ui (``bot.ui.mount``, which
    ``coo serve`` passes; it imports this module's ``Mount``, so this module does not import it).
    """
    import uvicorn

    server = build_server(app, [*configured_mounts(app), *(extra or [])])
    host = app.settings.coo_host or default_host
    uvicorn.Server(uvicorn_config(app, server, host, app.settings.port)).run()
