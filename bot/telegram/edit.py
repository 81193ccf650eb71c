"""Edit a card by replying to it: ``amount=15 memo="tea with Sam"`` changes those arguments."""

from __future__ import annotations

import shlex
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory.tables import MessageRef


def parse_changes(text: str) -> dict[str, Any] | None:
    """Parse ``key=value`` pairs (quotes allowed); None when the text is not an edit."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words or not all("=" in w and not w.startswith("=") for w in words):
        return None
    return dict(w.split("=", 1) for w in words)


def card_replied_to(db: Engine, chat_id: int, message_id: int) -> str | None:
    """Return the approval id whose card is this Telegram message, if it is one."""
    with Session(db) as s:
        rows = s.exec(
            select(MessageRef).where(
                MessageRef.channel == "telegram", col(MessageRef.key).startswith("approval:")
            )
        ).all()
    for row in rows:
        if int(row.ref.get("chat_id", 0)) == chat_id and int(row.ref.get("message_id", 0)) == message_id:
            return row.key.removeprefix("approval:")
    return None
