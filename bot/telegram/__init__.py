"""The Telegram channel (python-telegram-bot). `mount(app)` is what `coo serve` calls; see `bot.telegram.channel`.

Importing this package does not import telegram; `mount` does, only when Telegram is configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App
    from bot.dispatch import Outbound
    from bot.messages import Reply
    from bot.server import Mount
    from bot.telegram.outbound import TelegramOutbound


def mount(app: App) -> Mount | None:
    """Return the Telegram mount for `coo serve`, or None when TELEGRAM_BOT_TOKEN is not set."""
    if app.settings.telegram_bot_token is None:
        return None
    from bot.telegram.channel import TelegramChannel

    return TelegramChannel.from_settings(app).mount()


class _BotPerCall:
    """Posts with a Bot opened for each call: the notifier runs each call in a loop of its own here."""

    def __init__(self, app: App, token: str, base_url: str) -> None:
        self.app, self.token, self.base_url = app, token, base_url

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        async with self._outbound() as out:
            return await out.send(conversation, reply)

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        async with self._outbound() as out:
            await out.update(ref, reply)

    @asynccontextmanager
    async def _outbound(self) -> AsyncIterator[TelegramOutbound]:
        from telegram import Bot

        from bot.telegram.outbound import TelegramOutbound

        async with Bot(self.token, base_url=self.base_url) as bot:
            yield TelegramOutbound(self.app, bot)


def outbound(app: App) -> Outbound | None:
    """Return an outbound for processes that post to Telegram without serving it (`coo worker`, the CLI)."""
    token = app.settings.telegram_bot_token
    if token is None:
        return None
    return _BotPerCall(app, token.get_secret_value(), app.settings.telegram_api_url)
