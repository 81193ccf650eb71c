"""The response cache: a model's answer to one exact prompt, kept in SQL so it survives restarts.

Keyed by the model and the exact prompt (messages, tools, sampling parameters). At temperature 0 the
same call gives the same answer, so a hit replaces the call and costs nothing. What an answer proposes
still goes through policy and approval, and runs fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.cost_tables import CachedResponse
from memory.db import transaction
from memory.tables import utcnow


class ResponseCache:
    """Answers by prompt, with an optional time to live."""

    def __init__(
        self, db: SqlEngine, *, ttl: timedelta | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock

    def _fresh_since(self) -> datetime | None:
        return self.clock() - self.ttl if self.ttl is not None else None

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the answer cached under a key (model + prompt), if fresh."""
        with Session(self.db) as s:
            row = s.get(CachedResponse, key)
        since = self._fresh_since()
        if row is None or (since is not None and row.created_at < since):
            return None
        return dict(row.message)

    def get_any(self, prompt_hash: str) -> tuple[str, dict[str, Any]] | None:
        """Return the newest fresh answer any model gave to this exact prompt, with that model's name."""
        q = select(CachedResponse).where(CachedResponse.prompt_hash == prompt_hash)
        since = self._fresh_since()
        if since is not None:
            q = q.where(CachedResponse.created_at >= since)
        with Session(self.db) as s:
            row = s.exec(q.order_by(col(CachedResponse.created_at).desc()).limit(1)).first()
        return (row.model, dict(row.message)) if row is not None else None

    def put(self, key: str, prompt_hash: str, model: str, message: dict[str, Any]) -> None:
        """Keep an answer (replacing a stale one under the same key)."""
        try:
            with transaction(self.db) as s:
                row = s.get(CachedResponse, key)
                if row is None:
                    row = CachedResponse(key=key, prompt_hash=prompt_hash, model=model, message=message)
                else:
                    row.message, row.created_at = message, self.clock()
                s.add(row)
        except IntegrityError:
            pass  # a concurrent run cached the same prompt first; its answer is as good
