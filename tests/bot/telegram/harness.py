"""Run coo's server with the Telegram channel against the fake Bot API, and build real Update JSON."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bot.app import App
from bot.server import build_server
from bot.telegram.channel import TelegramChannel
from tests.fakes.server import serve, wait_for
from tests.fakes.telegram_api import FakeTelegram

OPERATOR = 1111111
STRANGER = 2222222
SECRET = "s3cret-token_for-webhooks"
OPS = {"coo_operators": [f"telegram:{OPERATOR}"]}
_ids = itertools.count(10_000)


def user(uid: int = OPERATOR) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": "Test", "username": f"user{uid}"}


def message_update(
    text: str,
    *,
    uid: int = OPERATOR,
    chat_id: int | None = None,
    update_id: int | None = None,
    chat_type: str = "private",
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    chat_id = chat_id if chat_id is not None else uid
    msg: dict[str, Any] = {
        "message_id": next(_ids),
        "from": user(uid),
        "date": int(time.time()),
        "chat": {
            "id": chat_id,
            "type": chat_type,
            **({"title": "Ops"} if chat_type != "private" else {"first_name": "Test"}),
        },
        "text": text,
    }
    if text.startswith("/"):
        msg["entities"] = [{"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}]
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    return {"update_id": update_id if update_id is not None else next(_ids), "message": msg}


def callback_update(data: str, message: dict[str, Any], *, uid: int = OPERATOR) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "from": user(uid),
            "chat_instance": "-42",
            "data": data,
            "message": {
                "message_id": message["message_id"],
                "date": int(time.time()),
                "chat": {"id": message["chat"]["id"], "type": "private"},
                "text": message.get("text", ""),
            },
        },
    }


class Telegram:
    """Drives the running server: posts updates to the webhook, waits for work, reads what the fake got."""

    def __init__(self, app: App, fake: FakeTelegram, fake_url: str, *, webhook: bool = True) -> None:
        s = app.settings
        self.app, self.fake = app, fake
        self.channel = TelegramChannel(
            app,
            token=fake.token,
            base_url=f"{fake_url}/bot",
            webhook_secret=SECRET if webhook else None,
            webhook_url="https://coo.example/telegram/webhook" if webhook else None,
            poll_timeout=0,
        )
        assert s is not None
        self.server = build_server(app, [self.channel.mount()])
        self.url = ""
        self.http = httpx.Client(timeout=30)

    def post(self, update: dict[str, Any] | str | bytes, secret: str | None = SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        if isinstance(update, dict):
            return self.http.post(f"{self.url}/telegram/webhook", json=update, headers=headers)
        return self.http.post(
            f"{self.url}/telegram/webhook",
            content=update,
            headers={**headers, "content-type": "application/json"},
        )

    def drain(self) -> None:
        assert self.channel.loop is not None
        asyncio.run_coroutine_threadsafe(self.channel.drain(), self.channel.loop).result(timeout=60)

    def sent(self) -> list[dict[str, Any]]:
        return self.fake.to("sendMessage")

    def buttons(self, msg: dict[str, Any]) -> dict[str, str]:
        markup = msg.get("reply_markup") or {}
        return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}

    def message_of(self, params: dict[str, Any]) -> dict[str, Any]:
        """The Message a sendMessage call created, as a callback_query carries it."""
        return {
            "message_id": params["_message_id"],
            "chat": {"id": int(params["chat_id"])},
            "text": params["text"],
        }


@contextmanager
def running(app: App, fake: FakeTelegram, fake_url: str, *, webhook: bool = True) -> Iterator[Telegram]:
    tg = Telegram(app, fake, fake_url, webhook=webhook)
    with serve(tg.server, lifespan="on") as url:
        tg.url = url
        wait_for(lambda: tg.channel.loop is not None and tg.fake.to("setMyCommands"), what="telegram startup")
        yield tg
        tg.drain()
    tg.http.close()


@contextmanager
def fake_telegram() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    with serve(fake.app()) as url:
        yield fake, url
