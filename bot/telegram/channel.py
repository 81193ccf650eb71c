"""The Telegram channel on python-telegram-bot: webhook or polling, durable inbox, inline-keyboard cards.

Every update is recorded in the durable inbox under its update_id (a set of seen ids, not a high-water
mark) before it is acknowledged: in webhook mode before the HTTP 200, in polling mode as the first
handler. A duplicate stops there. Text becomes an engine request through `bot.dispatch`; buttons carry
opaque tokens that are looked up server-side.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from agents.contract import Action
from bot.app import App
from bot.commands import command
from bot.dispatch import Click, Dispatcher, refused
from bot.messages import Reply
from bot.server import Mount
from bot.telegram.edit import card_replied_to, parse_changes
from bot.telegram.outbound import TelegramOutbound, conversation_of
from graph.errors import GraphError
from memory import callbacks, inbox
from memory.tables import utcnow

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000
RAW = "telegram-updates"  # inbox channel of raw updates (recovery); messages are under "telegram"
BOT_COMMANDS = [
    ("status", "Runs in flight, pending approvals, failures"),
    ("budget", "Model spend against the budget"),
    ("runs", "Recent runs"),
    ("trust", "What may run without asking, and the numbers"),
    ("login", "A sign-in link to the web console"),
    ("logout", "/logout all: end your web console sessions"),
    ("digest", "Build today's digest now"),
    ("help", "What I understand"),
    ("start", "Say hello"),
]
_KINDS = ("message", "edited_message", "callback_query")


def stored_update(app: App, data: dict[str, Any]) -> dict[str, Any]:
    """Return what the inbox keeps of a raw update: masked, and only ids for a non-operator's.

    An operator's update is kept whole (replayed after a crash) with secrets masked, like everything
    else at rest. A stranger's keeps what deduplication and the refusal need: ids, chat, sender.
    """
    sender = next((data[k].get("from") for k in _KINDS if isinstance(data.get(k), dict)), None)
    sender_id = sender.get("id") if isinstance(sender, dict) else None
    if app.is_operator(f"telegram:{sender_id}"):
        masked: dict[str, Any] = app.redactor.value(data)
        return masked
    out: dict[str, Any] = {"update_id": data.get("update_id")}
    for kind in _KINDS:
        part = data.get(kind)
        if isinstance(part, dict):
            out[kind] = _ids(
                part, ("message_id", "date", "message_thread_id", "is_topic_message", "id", "chat_instance")
            )
            for inner in ("from", "chat"):
                if isinstance(part.get(inner), dict):
                    out[kind][inner] = _ids(part[inner], ("id", "type", "is_bot"))
            if "from" in out[kind]:
                out[kind]["from"]["first_name"] = "?"  # required by Update.de_json; the name is not kept
            if isinstance(part.get("message"), dict):
                out[kind]["message"] = stored_update(app, {"update_id": 0, "message": part["message"]})[
                    "message"
                ]
    return out


def _ids(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in keys if k in d and isinstance(d[k], int | bool | str)}


class TelegramChannel:
    """One bot: the PTB Application, our handlers, the webhook route and the lifecycle."""

    def __init__(
        self,
        app: App,
        *,
        token: str,
        base_url: str,
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        poll_timeout: float = 10,
    ) -> None:
        self.app = app
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.poll_timeout = poll_timeout
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .base_file_url(base_url.replace("/bot", "/file/bot"))
            .rate_limiter(AIORateLimiter(max_retries=3))
            .concurrent_updates(8)
        )
        if webhook_secret:
            builder = builder.updater(None)
        self.ptb: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.outbound = TelegramOutbound(app, self.ptb.bot)
        self.dispatcher = Dispatcher(app, "telegram", self.outbound)
        self.dispatcher.lane(RAW, self._replay)  # stored updates a crash left are replayed through PTB
        self.started_at: datetime = utcnow()
        self._dead: tuple[str, ...] = ()  # owners known dead: their claims are taken at once
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ptb.add_handler(TypeHandler(Update, self._gate), group=-1)
        self.ptb.add_handler(CommandHandler([c for c, _ in BOT_COMMANDS], self._command))
        self.ptb.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, self._message)
        )
        self.ptb.add_handler(CallbackQueryHandler(self._callback))
        self.ptb.add_handler(TypeHandler(Update, self._done), group=1)
        self.ptb.add_error_handler(self._error)

    @classmethod
    def from_settings(cls, app: App) -> TelegramChannel:
        """Build the channel from settings (webhook mode when TELEGRAM_WEBHOOK_SECRET is set)."""
        s = app.settings
        assert s.telegram_bot_token is not None
        return cls(
            app,
            token=s.telegram_bot_token.get_secret_value(),
            base_url=s.telegram_api_url,
            webhook_secret=s.telegram_webhook_secret.get_secret_value()
            if s.telegram_webhook_secret
            else None,
            webhook_url=s.telegram_webhook_url,
        )

    # ---- the durable inbox ----------------------------------------------------------------------

    @staticmethod
    def _key(update_id: int) -> str:
        return f"{RAW}:{update_id}"

    async def _record(self, data: dict[str, Any]) -> bool:
        return await asyncio.to_thread(
            inbox.record,
            self.app.db,
            delivery_id=self._key(int(data["update_id"])),
            channel=RAW,
            conversation="",
            actor="",
            text="",
            meta={"update": stored_update(self.app, data)},
        )

    async def _gate(self, update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        """Record (polling mode) and claim an update; a duplicate or one being handled stops here."""
        await self._record(update.to_dict())
        claimed = await asyncio.to_thread(self.app.owner.claim, self._key(update.update_id), self._dead)
        if not claimed:
            raise ApplicationHandlerStop

    async def _done(self, update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.to_thread(inbox.finish, self.app.db, self._key(update.update_id), "done")

    async def _error(self, update: object, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: handling an update failed", exc_info=ctx.error)
        if isinstance(update, Update):
            await asyncio.to_thread(inbox.finish, self.app.db, self._key(update.update_id), "failed")

    # ---- handlers -------------------------------------------------------------------------------

    async def _message(self, update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        msg, chat, user = update.message, update.effective_chat, update.effective_user
        if msg is None or chat is None or user is None or not msg.text or user.is_bot:
            return
        text = msg.text
        if chat.type != "private":  # in groups: only mentions of the bot and replies to it
            me = ctx.bot.username or ""
            mentioned = bool(me) and f"@{me}".lower() in text.lower()
            to_bot = bool(
                msg.reply_to_message
                and msg.reply_to_message.from_user
                and msg.reply_to_message.from_user.id == ctx.bot.id
            )
            if not (mentioned or to_bot):
                return
            text = re.sub(rf"@{re.escape(me)}\b", "", text, flags=re.I).strip() if me else text
        topic = msg.message_thread_id if msg.is_topic_message else None
        if await self._maybe_edit(update, text, conversation_of(chat.id, topic), f"telegram:{user.id}"):
            return
        await self.dispatcher.accept(
            delivery_id=str(update.update_id),
            conversation=conversation_of(chat.id, topic),
            actor=f"telegram:{user.id}",
            text=text,
        )

    async def _maybe_edit(self, update: Update, text: str, conversation: str, actor: str) -> bool:
        """Treat a reply to a card with ``key=value`` pairs as an edit of its arguments."""
        msg = update.message
        target = msg.reply_to_message if msg else None
        changes = parse_changes(text)
        if msg is None or target is None or changes is None:
            return False
        approval_id = await asyncio.to_thread(card_replied_to, self.app.db, msg.chat.id, target.message_id)
        if approval_id is None:
            return False
        try:
            old = Action.model_validate((await asyncio.to_thread(self.app.approvals.get, approval_id)).action)
        except GraphError as exc:
            await self.dispatcher.deliver(conversation, [Reply(text=str(exc))])
            return True
        private = await self.dispatcher.revise(
            delivery_id=str(update.update_id),
            conversation=conversation,
            actor=actor,
            approval_id=approval_id,
            arguments={**old.arguments, **changes},
        )
        await self.dispatcher.deliver(conversation, private)
        return True

    async def _command(self, update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        msg, chat, user = update.message, update.effective_chat, update.effective_user
        if msg is None or chat is None or user is None or not msg.text:
            return
        conversation = conversation_of(chat.id, msg.message_thread_id if msg.is_topic_message else None)
        actor = f"telegram:{user.id}"
        word, _, args = msg.text.partition(" ")
        name = word.split("@", 1)[0].lower()
        replies: list[Reply]
        refusal = refused(self.app, actor, "message")  # once per period, not once per command
        if refusal is not None:
            replies = refusal
        else:
            line = f"{name} {args}".strip()
            delivery = f"telegram:{update.update_id}"
            answer = await asyncio.to_thread(command, self.app, conversation, actor, line, delivery)
            replies = answer or []
        await self.dispatcher.deliver(conversation, replies)

    async def _callback(self, update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        q = update.callback_query
        if q is None:
            return
        meaning = await asyncio.to_thread(callbacks.resolve, self.app.db, q.data or "")
        actor = f"telegram:{q.from_user.id}"
        if meaning is None:
            await q.answer("This button is no longer valid.", show_alert=True)
            return
        refusal = refused(self.app, actor, "button")
        if refusal is not None:
            await q.answer(refusal[0].text, show_alert=True)
            return
        action, value = meaning
        message = q.message
        chat_id = message.chat.id if message is not None else q.from_user.id
        topic = (
            getattr(message, "message_thread_id", None)
            if getattr(message, "is_topic_message", False)
            else None
        )
        conversation = conversation_of(chat_id, topic)
        if action in ("approve", "reject"):  # a stale or misplaced card says so at once, in the alert
            why = await self.dispatcher.stale(value, conversation)
            if why is not None:
                await q.answer(why, show_alert=True)
                return
        await q.answer()
        # A click whose update a dead process had claimed may have been decided already: its outcome
        # is reported from the run (Done with Undo), not refused.
        item = await asyncio.to_thread(inbox.get, self.app.db, self._key(update.update_id))
        private = await self.dispatcher.click(
            Click(str(update.update_id), conversation, actor, action, value),
            again=item is not None and item.attempts > 1,
        )
        if private:  # Telegram has no private notes in a chat: the clicker reads it as a reply
            await self.dispatcher.deliver(conversation, private)

    # ---- HTTP -----------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """Verify the secret token, record the update, acknowledge; processing follows off the request path.

        Only a request with the right secret token counts as in flight for "acknowledgements first".
        """
        expected = (self.webhook_secret or "").encode()
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("telegram: webhook request with a wrong secret token refused")
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        self.dispatcher.request_started()
        try:
            return await self._webhook(request)
        finally:
            self.dispatcher.request_done()

    async def _webhook(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            log.warning("telegram: webhook body of %d bytes refused", len(body))
            return JSONResponse({"ok": False, "error": "too large"}, status_code=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an Update")
            update = Update.de_json(data, self.ptb.bot)
        except Exception as exc:  # noqa: BLE001 - any malformed body is the sender's error
            log.warning("telegram: malformed update refused: %s", type(exc).__name__)
            return JSONResponse({"ok": False, "error": "malformed update"}, status_code=400)
        if await self._record(data):
            await self.ptb.update_queue.put(update)
        return JSONResponse({"ok": True})

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start PTB, register commands, set the webhook or start polling, and recover in the background."""
        self.started_at = utcnow()
        self.loop = asyncio.get_running_loop()
        await self.ptb.initialize()
        # Jobs, the digest and the undo window post into Telegram from worker threads through the notifier.
        self.app.notifier.register("telegram", self.outbound, self.loop)
        await self.ptb.start()
        await self.ptb.bot.set_my_commands([BotCommand(c, d) for c, d in BOT_COMMANDS])
        if self.webhook_secret:
            if self.webhook_url:
                await self.ptb.bot.set_webhook(
                    self.webhook_url,
                    secret_token=self.webhook_secret,
                    allowed_updates=["message", "edited_message", "callback_query"],
                )
        else:
            assert self.ptb.updater is not None
            await self.ptb.bot.delete_webhook()
            await self.ptb.updater.start_polling(
                timeout=int(self.poll_timeout),
                allowed_updates=["message", "edited_message", "callback_query"],
            )
        self.dispatcher.tasks.spawn(self.recover())

    async def recover(self) -> None:
        """Finish runs a crash interrupted, replay stored updates and process messages it left."""
        await self.dispatcher.start()

    async def sweep(self, starting: bool = False) -> None:
        """Take over what nobody alive handles (the dispatcher's sweep over every lane)."""
        await self.dispatcher.sweep(starting)

    async def _replay(self, key: str, dead: Sequence[str]) -> None:
        """Replay a stored update nobody alive handles (a dead process's, or never claimed) through PTB."""
        self._dead = tuple(dead)
        item = await asyncio.to_thread(inbox.get, self.app.db, key)
        if item is None:
            return
        try:
            await self.ptb.update_queue.put(Update.de_json(item.meta["update"], self.ptb.bot))
        except Exception:  # noqa: BLE001 - one bad stored update must not stop recovery
            log.exception("telegram: could not replay stored update %s", item.delivery_id)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until queued updates and the work they started are done (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while True:
                await self.ptb.update_queue.join()
                await self.dispatcher.drain(timeout)
                if self.ptb.update_queue.empty() and not self.dispatcher.tasks:
                    return

    async def stop(self) -> None:
        """Stop sweeping, polling and PTB."""
        self.dispatcher.stop_sweeper()
        self.app.notifier.unregister("telegram")
        if self.ptb.updater is not None and self.ptb.updater.running:
            await self.ptb.updater.stop()
        if self.ptb.running:
            await self.ptb.stop()
        await self.ptb.shutdown()
        self.dispatcher.close()

    async def health(self) -> dict[str, Any]:
        """Report whether PTB is running."""
        return {"ok": self.ptb.running, "mode": "webhook" if self.webhook_secret else "polling"}

    def mount(self) -> Mount:
        """Return what `coo serve` adds for Telegram."""
        routes: list[BaseRoute] = (
            [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])] if self.webhook_secret else []
        )
        return Mount(
            "telegram", routes=routes, startup=[self.start], shutdown=[self.stop], health=self.health
        )
