"""Post and update Telegram messages: HTML-escaped text split at 4096, inline keyboards with opaque tokens."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.app import App
from bot.messages import Button, Reply
from bot.telegram.text import render_parts
from memory import callbacks


def parse_conversation(conversation: str) -> tuple[int, int | None]:
    """Return (chat_id, message_thread_id) from ``telegram:<chat>[:<topic>]``."""
    _, chat, *topic = conversation.split(":")
    return int(chat), (int(topic[0]) if topic else None)


def conversation_of(chat_id: int, thread_id: int | None) -> str:
    """Return the conversation key of a chat (and forum topic)."""
    return f"telegram:{chat_id}" + (f":{thread_id}" if thread_id else "")


def reply_text(reply: Reply) -> str:
    """Flatten a reply (text or card) to plain text."""
    if reply.card is None:
        return reply.text
    c = reply.card
    lines = [c.title, *[f"{k}: {v}" for k, v in c.fields]]
    if c.footer:
        lines.append(c.footer)
    if any(b.action == "approve" for b in c.buttons):
        lines.append("To change it, reply to this message with key=value (e.g. amount=15).")
    return "\n".join(lines)


class TelegramOutbound:
    """The Outbound of bot.dispatch for Telegram."""

    def __init__(self, app: App, bot: Bot) -> None:
        self.app = app
        self.bot = bot

    async def keyboard(self, buttons: list[Button]) -> InlineKeyboardMarkup | None:
        """Return an inline keyboard whose callback_data are opaque server-side tokens."""
        if not buttons:
            return None
        row, rows = [], []
        for b in buttons:
            token = await asyncio.to_thread(callbacks.issue, self.app.db, b.action, b.value)
            key = InlineKeyboardButton(b.label, callback_data=token)
            if b.action == "choose":
                rows.append([key])  # a command each: one per row, readable on a phone
            else:
                row.append(key)
        return InlineKeyboardMarkup([row, *rows] if row else rows)

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        """Post a reply (split as needed; buttons go on the last part) and an image if it has one."""
        chat_id, thread_id = parse_conversation(conversation)
        buttons = reply.card.buttons if reply.card else reply.buttons
        markup = await self.keyboard(buttons)
        parts = render_parts(reply_text(reply))
        msg = None
        for i, part in enumerate(parts):
            msg = await self.bot.send_message(
                chat_id,
                part,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread_id,
                reply_markup=markup if i == len(parts) - 1 else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        if reply.image:
            await self.bot.send_photo(
                chat_id,
                InputFile(reply.image, filename=reply.image_name or "chart.png"),
                message_thread_id=thread_id,
            )
        assert msg is not None
        return {"chat_id": msg.chat_id, "message_id": msg.message_id}

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        """Replace a posted message's text and keyboard (a decided card loses its buttons)."""
        markup = await self.keyboard(reply.card.buttons if reply.card else reply.buttons)
        text = render_parts(reply_text(reply))[0]
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=ref["chat_id"],
                message_id=ref["message_id"],
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            if "not found" in str(exc).lower():  # the message was deleted: say it in the chat instead
                await self.bot.send_message(
                    ref["chat_id"],
                    text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),  # as every other post
                )
                return
            raise
