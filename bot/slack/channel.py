"""The Slack channel: slack-bolt's AsyncApp on `POST /slack/events` (HTTP mode) or over Socket Mode.

Request path (kept short, so Slack gets its answer within 3 s whatever the model is doing):
signature and timestamp checked on the raw body (401 otherwise, nothing parsed or recorded) → a
message is recorded in the durable inbox under its event_id (a retry or a concurrent copy stops there)
→ 200. Messages skip bolt (its request machinery cost more than everything else an acknowledgement
does); everything else goes through bolt. The engine runs afterwards, off the request path (in the
engine process with ``COO_ENGINE_PROCESS``: bot/engine_process.py), and replies through `SlackOutbound`.

In Socket Mode bolt acknowledges events before it runs the listener (``process_before_response``
off), so events are recorded in *listener middleware*, which runs first; buttons and slash commands
ack explicitly, after their click is recorded.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.app import App
from bot.dispatch import Dispatcher, refused
from bot.engine_process import EngineProcess
from bot.messages import Reply
from bot.server import Mount
from bot.slack import blocks, commands, inbound
from bot.slack.commands import COMMANDS
from bot.slack.edit import EditFlow
from bot.slack.outbound import SlackOutbound, web_client
from memory import inbox, outbox

log = logging.getLogger(__name__)

CLICK_CHANNEL = "slack:click"  # inbox rows that only deduplicate clicks (never re-processed as messages)
_CLICKS = re.compile(r"^(approve|reject|undo|retry|choose)(-[0-9]+)?$")  # choose-2: ids are unique per block
MAX_BODY = 1_000_000  # Slack's payloads are a few KB; anything this big is not from Slack
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() accepts "²" and "٣"
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SlackChannel:
    """Everything Slack needs in one process: the bolt app, the outbound client, the dispatcher.

    Args:
        app: The composition root.
        bot_token: The bot token (``xoxb-``).
        signing_secret: Verifies HTTP requests; None in Socket Mode without an HTTP endpoint.
        app_token: The app-level token (``xapp-``); when set, events arrive over Socket Mode.
        api_url: Base URL of the Slack Web API (tests point it at a loopback fake).
    """

    def __init__(
        self,
        app: App,
        *,
        bot_token: str,
        signing_secret: str | None,
        app_token: str | None = None,
        api_url: str | None = None,
        engine: EngineProcess | None = None,
    ) -> None:
        self.app = app
        self.client = web_client(bot_token, api_url)
        self.outbound = SlackOutbound(self.client)
        self.dispatcher = Dispatcher(
            app, inbound.CHANNEL, self.outbound, click_channel=CLICK_CHANNEL, private=self.tell
        )
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.app_token = app_token
        self.bolt = AsyncApp(
            name="coo",
            client=self.client,
            signing_secret=signing_secret,
            request_verification_enabled=signing_secret is not None,
            process_before_response=False,
        )
        self.handler = AsyncSlackRequestHandler(self.bolt)
        self.socket: AsyncSocketModeHandler | None = None
        self.edits = EditFlow(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        # With an engine process, this process only records and acknowledges (bot/engine_process.py).
        self.engine = engine
        self._bot_user: str | None = None  # the bot's own user id, once bolt has told it
        if engine is not None:
            self.dispatcher.wake = engine.wake
        self._register()

    @classmethod
    def from_settings(cls, app: App) -> SlackChannel:
        """Build the channel from the app's settings (the caller checked the bot token is set)."""
        s = app.settings
        assert s.slack_bot_token is not None
        token = s.slack_bot_token.get_secret_value()
        engine = None
        if s.coo_engine_process:
            engine = EngineProcess(s, functools.partial(engine_door, bot_token=token, api_url=s.slack_api_url))
        return cls(
            app,
            bot_token=token,
            signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None,
            app_token=s.slack_app_token.get_secret_value() if s.slack_app_token else None,
            api_url=s.slack_api_url,
            engine=engine,
        )

    def _register(self) -> None:
        b = self.bolt
        b.event("app_mention", middleware=[self._record_event])(self._event_acked)
        b.event("message", middleware=[self._record_event])(self._event_acked)
        b.action(_CLICKS)(self._on_click)
        b.action("edit")(self.edits.on_edit)
        b.view(self.edits.CALLBACK_ID)(self.edits.on_submit)
        for name in COMMANDS:
            b.command(name)(self._on_command)

    # ---- HTTP -----------------------------------------------------------------------------------

    def _signed(self, body: bytes, headers: dict[str, str]) -> bool:
        """Check Slack's signature; headers of the wrong shape, or a body not in UTF-8, are not Slack's.

        The SDK raises on them (``int("1e10")``, ``compare_digest`` of non-ASCII text), so they are
        refused here first: a timestamp of ASCII digits, a signature ``v0=<64 hex>``.
        """
        assert self.verifier is not None
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            return False
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return self.verifier.is_valid_request(body, headers)

    async def events(self, request: Request) -> Response:
        """Serve ``POST /slack/events``: verify on the raw body first, then hand to bolt.

        The request counts as in flight (for "acknowledgements first") only once it is verified: a
        stranger's request, however slow, never holds the engine back.
        """
        peer = request.client.host if request.client else "?"
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            log.warning("slack: refused a %s byte body from %s", request.headers["content-length"], peer)
            return PlainTextResponse("body too large", status_code=413)
        body = await request.body()
        if self.verifier is None:
            return PlainTextResponse("Slack HTTP mode is not configured", status_code=404)
        if len(body) > MAX_BODY:
            log.warning("slack: refused a %d byte body from %s", len(body), peer)
            return PlainTextResponse("body too large", status_code=413)
        if not self._signed(body, {k.lower(): v for k, v in request.headers.items()}):
            log.warning("slack: refused a request with a bad signature or stale timestamp from %s", peer)
            return PlainTextResponse("invalid signature", status_code=401)
        if not inbound.well_formed(body, request.headers.get("content-type", "")):
            log.warning("slack: refused a signed but malformed body from %s", peer)
            return PlainTextResponse("malformed body", status_code=400)
        self.dispatcher.request_started()
        try:
            msg = self._message(body, request.headers.get("content-type", ""))
            if msg is not None:  # the hot path: record it and answer, without bolt's request machinery
                await self._accept(msg, request.headers.get("x-slack-retry-num"))
                return Response(status_code=200)
            return await self.handler.handle(request)
        finally:
            self.dispatcher.request_done()

    def _message(self, body: bytes, content_type: str) -> inbound.Incoming | None:
        """Return the request a verified, well-formed event callback carries, else None (bolt's to answer).

        Only once bolt has told the bot's own user id (its first event): the bot's own messages are
        bolt's to drop.
        """
        if self._bot_user is None or not content_type.startswith("application/json"):
            return None
        doc = json.loads(body)
        msg = inbound.from_event(doc) if doc.get("type") == "event_callback" else None
        return None if msg is None or msg.actor == inbound.actor(self._bot_user) else msg

    async def _accept(self, msg: inbound.Incoming, retry: str | None) -> None:
        new = await self.dispatcher.accept(
            delivery_id=msg.delivery_id, conversation=msg.conversation, actor=msg.actor, text=msg.text
        )
        log.info(
            "slack: event %s %s%s",
            msg.delivery_id,
            "accepted" if new else "duplicate",
            f" (retry {retry})" if retry else "",
        )

    # ---- listeners ------------------------------------------------------------------------------

    async def _record_event(self, args: AsyncArgs) -> None:
        """Record a message in the inbox before bolt acknowledges it; duplicates stop in `accept`."""
        self._bot_user = self._bot_user or args.context.bot_user_id  # from here on HTTP skips bolt
        msg = inbound.from_event(args.body)
        if msg is not None:
            await self._accept(msg, args.request.headers.get("x-slack-retry-num", [None])[0])
        await args.next()

    async def _event_acked(self, args: AsyncArgs) -> None:
        """Do nothing: bolt has acknowledged and the inbox has the delivery."""

    async def _on_click(self, args: AsyncArgs) -> None:
        """Record the click, acknowledge, then decide / undo / retry off the request path."""
        assert args.action is not None
        click = inbound.click_from(args.body, args.action)
        click = replace(click, action=click.action.partition("-")[0])
        new = await self.record_interaction(
            click.delivery_id, click.conversation, click.actor, f"{click.action} {click.value}"
        )
        if new:  # claimed, carried out, its replies owed and posted; a sweep takes over if this process dies
            self.dispatcher.later(f"{CLICK_CHANNEL}:{click.delivery_id}")  # before the ack: drain sees it
        await args.ack()

    async def record_interaction(
        self, delivery_id: str, conversation: str, actor: str, text: str, meta: dict[str, Any] | None = None
    ) -> bool:
        """Record a click or a modal submission before acknowledging it; False for a duplicate.

        ``meta`` keeps what carrying it out needs after a crash (a submission's arguments), masked.
        """
        return await asyncio.to_thread(
            inbox.record,
            self.app.db,
            delivery_id=f"{CLICK_CHANNEL}:{delivery_id}",
            channel=CLICK_CHANNEL,
            conversation=conversation,
            actor=actor,
            text=text,
            meta=self.app.redactor.value(meta) if meta else None,
        )

    async def tell(self, conversation: str, actor: str, reply: Reply) -> None:
        """Show a reply to one person only (an ephemeral message)."""
        await self.outbound.ephemeral(conversation, actor.removeprefix(f"{inbound.CHANNEL}:"), reply)

    async def _on_command(self, args: AsyncArgs) -> None:
        """Acknowledge a slash command at once; the answer follows through its response_url."""
        await args.ack()
        assert args.command is not None
        self.spawn(self._answer_command(dict(args.command), args))

    async def _answer_command(self, command: dict[str, Any], args: AsyncArgs) -> None:
        refusal = refused(self.app, inbound.actor(command.get("user_id", "")), "command")
        if refusal is not None:
            reply = refusal[0]
        else:
            try:
                reply = await asyncio.to_thread(
                    commands.answer,
                    self.app,
                    inbound.actor(command.get("user_id", "")),
                    command["command"],
                    command.get("text", ""),
                    inbound.conversation_key(command["channel_id"], None)
                    if command.get("channel_id")
                    else "",
                )
            except Exception:
                log.exception("slack: %s failed", command["command"])
                reply = Reply(text=f"{command['command']} failed; the error was logged.")
        if reply.card is not None and command.get("channel_id"):  # a card (/trust set) is posted where it is decided
            await self.dispatcher.deliver(inbound.conversation_key(command["channel_id"], None), [reply])
            reply = Reply(text="The card is posted in this conversation for an operator to decide.")
        msg = blocks.single(reply)
        await args.respond(text=msg.text, blocks=msg.blocks, response_type="ephemeral")
        if reply.image and command.get("channel_id"):  # the chart goes to the channel as a file
            try:
                await self.client.files_upload_v2(
                    channel=command["channel_id"],
                    file=reply.image,
                    filename=reply.image_name or "chart.png",
                    title="coo: spend over the last 30 days",
                )
            except Exception:
                log.exception("slack: chart upload failed")

    # ---- background work ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run work off the request path, logged if it fails, awaited by `drain`."""
        self.dispatcher.tasks.spawn(coro)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until all work started so far has finished (tests, shutdown)."""
        await self.dispatcher.drain(timeout)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start finishing what a crash left, in the background; connect Socket Mode if configured."""
        self.loop = asyncio.get_running_loop()
        # Jobs, the digest and the undo window post into Slack from worker threads through the notifier.
        self.app.notifier.register(inbound.CHANNEL, self.outbound, self.loop)
        if self.engine is not None:  # the engine process recovers, sweeps and processes
            await asyncio.to_thread(self.engine.start)
        else:
            self.spawn(self.dispatcher.start())
        if self.app_token:
            self.socket = AsyncSocketModeHandler(self.bolt, app_token=self.app_token)
            await self.socket.connect_async()
            log.info("slack: connected in Socket Mode")

    async def stop(self) -> None:
        """Disconnect Socket Mode and let work in flight finish."""
        self.app.notifier.unregister(inbound.CHANNEL)
        if self.socket is not None:
            await self.socket.close_async()
        try:
            await self.drain(timeout=10)
            if self.engine is not None:
                await asyncio.to_thread(self.engine.stop)
        finally:
            self.dispatcher.close()

    async def take_new(self) -> None:
        """Take the deliveries recorded since the last look (in the engine process)."""
        await self.dispatcher.take_new()

    def on_turn_end(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when a delivery's work ends (in the engine process: look for more)."""
        self.dispatcher.on_turn_end(hook)

    async def health(self) -> dict[str, Any]:
        """Report the mode, the inbox backlog and the replies waiting to be posted."""
        backlog = len(await asyncio.to_thread(inbox.unfinished, self.app.db, inbound.CHANNEL))
        owed = await asyncio.to_thread(outbox.backlog, self.app.db)
        mode = "socket" if self.app_token else "http"
        doc: dict[str, Any] = {"ok": True, "mode": mode, "inbox_backlog": backlog, "outbox_backlog": owed["pending"]}
        if self.engine is not None:  # not ready until the engine process takes work (a restart waits on it)
            doc["engine"] = "ready" if self.engine.ready else "starting"
            doc["ok"] = self.engine.ready
        return doc

    def mount(self) -> Mount:
        """Return what the HTTP server adds for Slack."""
        routes = [Route("/slack/events", self.events, methods=["POST"])] if self.verifier else []
        return Mount(
            name="slack", routes=list(routes), startup=[self.start], shutdown=[self.stop], health=self.health
        )


def engine_door(app: App, *, bot_token: str, api_url: str | None) -> SlackChannel:
    """Return the Slack channel the engine process runs: its dispatcher and outbound, no HTTP side."""
    return SlackChannel(app, bot_token=bot_token, signing_secret=None, api_url=api_url)
