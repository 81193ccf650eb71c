"""The Telegram channel (python-telegram-bot). `mount(app)` is what `coo serve` calls; see `bot.telegram.channel`.

Importing this package does not import telegram; `mount` does, only when Telegram is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App
    from bot.server import Mount


def mount(app: App) -> Mount | None:
    """Return the Telegram mount for `coo serve`, or None when TELEGRAM_BOT_TOKEN is not set."""
    if app.settings.telegram_bot_token is None:
        return None
    from bot.telegram.channel import TelegramChannel

    return TelegramChannel.from_settings(app).mount()
