"""Opaque callback tokens for chat buttons.

Telegram's callback_data carries only a random id (≤ 64 bytes); what it stands for (action and target)
stays on the server and is looked up, never trusted from the client.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from memory.tables import utcnow

TOKEN_BYTES = 16  # 22 url-safe characters: well inside Telegram's 64-byte limit


class CallbackToken(SQLModel, table=True):
    """What one button means."""

    id: str = Field(primary_key=True, max_length=64)
    action: str = Field(max_length=16)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


def issue(engine: Engine, action: str, value: str) -> str:
    """Store a button's meaning and return its opaque token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with Session(engine) as s:
        s.add(CallbackToken(id=token, action=action, value=value))
        s.commit()
    return token


def resolve(engine: Engine, token: str) -> tuple[str, str] | None:
    """Return (action, value) for a token, or None for an unknown one."""
    if not token or len(token) > 64:
        return None
    with Session(engine) as s:
        row = s.get(CallbackToken, token)
    return (row.action, row.value) if row else None
