"""Inbound webhooks: ``POST /hooks/{name}``, HMAC-verified, recorded before they are answered.

Each hook in ``COO_HOOKS`` has a secret and a kind. A request is checked in this order, and a refusal
changes nothing but a log line: unknown name → 404; body over the limit → 413; missing, wrong or stale
signature (see ``connectors/webhooks.py`` for the scheme) → 401; a body that is not JSON, or not what
the kind expects → 400; no destination for the cards (COO_HOOKS_TO / COO_DIGEST_TO unset) → 503.

An accepted delivery is written to the durable inbox under ``hook:<name>:<Webhook-Id>`` (the body's
SHA-256 when the sender gives no id), with a marker of the signed bytes, before the 202, so a retried
delivery (same id) or a replayed one (same signed bytes, any id) is answered 200 and proposes nothing, and one accepted just before a crash is processed on the next start.
Processing turns it into an untrusted engine request whose proposal is fixed by code (bot/hook_kinds.py)
and posts the resulting card to the destination through the notifier.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import App
from bot.dispatch import Door, run_id_for
from bot.hook_kinds import BadPayload, interpret, parse_body
from bot.messages import Reply
from bot.notify import channel_of, owe
from bot.playbooks import service as playbooks_service
from bot.render import render_all
from bot.server import Mount
from connectors.errors import SignatureInvalid
from connectors.webhooks import ID_HEADER, SIGNATURE_HEADER, TOLERANCE_S, verify
from graph.engine import Request
from memory import inbox
from memory.db import transaction
from memory.tables import Run, utcnow

log = logging.getLogger(__name__)

CHANNEL = "hooks"  # the inbox channel of inbound webhook deliveries
SEEN = "hooks-signed"  # the inbox channel of what signatures covered (replay markers, done at once)
MAX_BODY = 256_000
MAX_ID = 100  # longer delivery ids are hashed (the inbox key holds 200 characters)


def _refuse(status: int, error: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status_code=status)


class Hooks:
    """The inbound webhook endpoint and the processing of what it accepted."""

    def __init__(
        self, app: App, *, clock: Callable[[], float] = time.time, tolerance_s: float = TOLERANCE_S
    ) -> None:
        self.app = app
        self.clock = clock
        self.tolerance_s = tolerance_s
        self.started_at: datetime = utcnow()
        self.door = Door(app, CHANNEL)  # recovery, the sweeper and background work, as every front door
        self.door.lane(CHANNEL, lambda key, dead: asyncio.to_thread(self.process, key, dead))

    # ---- the endpoint ---------------------------------------------------------------------------

    async def endpoint(self, request: HttpRequest) -> JSONResponse:
        """Verify, record and acknowledge one delivery; process it off the request path."""
        name = request.path_params["name"]
        hook = self.app.settings.coo_hooks.get(name)
        if hook is None:
            log.warning("webhook: refused a delivery to unknown hook %r (404)", name[:60])
            return _refuse(404, "no such hook")
        body = await self._body(request)
        if body is None:
            log.warning("webhook %s: refused a body over %d bytes (413)", name, MAX_BODY)
            return _refuse(413, f"the body is over {MAX_BODY} bytes")
        try:
            signed_at = verify(
                hook.secret.get_secret_value(),
                request.headers.get(SIGNATURE_HEADER),
                body,
                now=self.clock(),
                tolerance_s=self.tolerance_s,
            )
        except SignatureInvalid as exc:
            log.warning("webhook %s: refused (401): %s", name, exc.reason)
            return _refuse(401, "invalid signature")
        try:
            interpret(name, hook.kind, parse_body(body))
        except BadPayload as exc:
            log.warning("webhook %s: refused (400): %s", name, exc)
            return _refuse(400, str(exc))
        destination = self.app.settings.hooks_destination
        if not destination:
            log.error("webhook %s: refused (503): set COO_HOOKS_TO (or COO_DIGEST_TO) for its cards", name)
            return _refuse(503, "no destination is configured for webhook cards")
        delivery = request.headers.get(ID_HEADER, "").strip() or hashlib.sha256(body).hexdigest()
        if len(delivery) > MAX_ID:
            delivery = "sha256:" + hashlib.sha256(delivery.encode()).hexdigest()
        key = f"hook:{name}:{delivery}"
        new = await asyncio.to_thread(self._record, key, name, signed_at, body, destination, hook.kind)
        if not new:
            log.info("webhook %s: delivery %s seen before; nothing to do", name, delivery[:60])
            return JSONResponse({"ok": True, "id": delivery, "duplicate": True}, status_code=200)
        self.app.engine.faults.hit("after_inbox_write")
        self.door.tasks.spawn(asyncio.to_thread(self.process, key))
        return JSONResponse({"ok": True, "id": delivery}, status_code=202)

    def _record(self, key: str, name: str, signed_at: int, body: bytes, destination: str, kind: str) -> bool:
        """Record a delivery once; False for a sender's retry (same id) or a replay (same signed bytes).

        The signature does not cover ``Webhook-Id``, so a request captured in transit could be replayed
        within the tolerance under a new id. What the signature covers (``<t>.<body>``) is recorded
        too, as a done marker: a replay has the same bytes and stops at it.
        """
        db = self.app.db
        signed = hashlib.sha256(str(signed_at).encode() + b"." + body).hexdigest()
        marker = f"hook:{name}:sig:{signed}"
        if not inbox.record(db, delivery_id=marker, channel=SEEN, conversation="", actor="", text=""):
            return False
        inbox.finish(db, marker, "done")
        return inbox.record(
            db,
            delivery_id=key,
            channel=CHANNEL,
            conversation=destination,
            actor=f"hook:{name}",
            text=self.app.redactor.text(body.decode("utf-8")),
            meta={"hook": name, "kind": kind},
        )

    async def _body(self, request: HttpRequest) -> bytes | None:
        """Read the body, or None as soon as it is over the limit."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # ---- processing -----------------------------------------------------------------------------

    def process(self, key: str, dead: Sequence[str] = ()) -> None:
        """Turn one recorded delivery into a card (or a notice) in its destination, once."""
        db = self.app.db
        if not self.app.owner.claim(key, dead):
            return
        item = inbox.get(db, key)
        if item is None:
            return
        try:
            name = str(item.meta.get("hook", ""))
            inbound = interpret(name, str(item.meta.get("kind", "notice")), parse_body(item.text.encode()))
            replies = self._replies(key, item.conversation, item.actor, inbound)
            self._fire_playbooks(name, key, item.text)
            status = "done"
            if inbound.preset and not self._has_run(key):
                # Turned away before a run existed (the engine's rate limit): keep it for the next start.
                log.warning("webhook delivery %s was not taken by the engine; kept for the next start", key)
                kept = f"Webhook {name}: a delivery came faster than I take requests; it is kept and will be proposed on the next start."
                replies, status = [Reply(text=kept)], "received"
            # The card is owed in the transaction that finishes the delivery, then posted (or by a sweep).
            with transaction(db) as s:
                owed = owe(s, f"{key}:{status}", item.conversation, replies)
                inbox.finish_in(s, key, status)
            try:
                self.app.notifier.relay(item.conversation, owed)
            except LookupError as exc:
                log.info("webhook delivery %s: %s; its card stays owed", key, exc)
        except Exception:
            log.exception("webhook delivery %s could not be processed", key)
            inbox.finish(db, key, "failed")

    def _fire_playbooks(self, name: str, key: str, body: str) -> None:
        """Start the playbooks this hook triggers (``trigger: {hook: <name>}``); never fails the delivery."""
        try:
            playbooks_service(self.app).fire_hook(name, key, body)
        except Exception:  # noqa: BLE001 - the delivery's own card still goes out
            log.exception("webhook delivery %s: its playbooks could not be started", key)

    def _replies(self, key: str, conversation: str, actor: str, inbound: Any) -> list[Reply]:
        if not inbound.preset:
            return [Reply(text=inbound.text)]
        channel = channel_of(conversation)
        req = Request(
            channel=channel,
            conversation=conversation,
            actor=actor,
            text=inbound.text,
            deciders=self.app.deciders_for(channel),
            untrusted=True,
            preset=inbound.preset,
        )
        return render_all(self.app.engine.submit(req, run_id_for(key)))

    def _has_run(self, key: str) -> bool:
        with Session(self.app.db) as s:
            return s.get(Run, run_id_for(key)) is not None

    # ---- lifecycle ------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Process deliveries accepted before a crash or restart and never finished."""
        await self.door.recover()

    async def sweep(self, starting: bool = False) -> None:
        """Take over deliveries nobody alive works on (a dead process's, or never claimed)."""
        await self.door.sweep(starting)

    async def start(self) -> None:
        """Recover what a crash left, then keep sweeping."""
        await self.recover()
        self.door.start_sweeper()

    async def stop(self) -> None:
        """Stop sweeping."""
        self.door.stop_sweeper()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every delivery started so far has been processed (tests, shutdown)."""
        await self.door.drain(timeout)

    def mount(self) -> Mount:
        """Return the route and the lifecycle hooks for the server."""
        return Mount(
            name="hooks",
            routes=[Route("/hooks/{name}", self.endpoint, methods=["POST"])],
            startup=[self.start],
            shutdown=[self.stop, self.drain],
        )


def mount(app: App) -> Mount | None:
    """Return the inbound webhooks' mount when COO_HOOKS names any (the server's ``configured_mounts``)."""
    if not app.settings.coo_hooks:
        return None
    return Hooks(app).mount()
