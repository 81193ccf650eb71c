"""The web console's tables: one-time sign-in links and sessions (their logic: ``memory.ui_sessions``).

Apart from ``memory.ui_sessions`` so that ``memory.db`` can register them without importing the
module that uses ``memory.db``'s transactions.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from memory.tables import utcnow


class UiLink(SQLModel, table=True):
    """A one-time sign-in link, sent in chat to an operator."""

    token_hash: str = Field(primary_key=True, max_length=64)
    actor: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class UiSession(SQLModel, table=True):
    """A web session opened by a link; ended by its expiry, by signing out, or by `/logout all`."""

    token_hash: str = Field(primary_key=True, max_length=64)
    actor: str = Field(index=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
