"""Prune the durable inbox: finished deliveries older than COO_INBOX_RETENTION_S are deleted.

Strangers can fill the inbox (every refused delivery is a row, kept so a redelivery stops at it); the
server prunes at start and then periodically, and `/healthz` reports the retention and what was pruned.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from memory import inbox
from memory.tables import utcnow

log = logging.getLogger(__name__)


class InboxRetention:
    """Deletes finished inbox rows past the retention, at start and every ``period_s`` after.

    Args:
        db: The workspace database.
        retention_s: How long a finished delivery is kept.
        period_s: How often to prune (default: the retention, at most an hour).
    """

    def __init__(self, db: Engine, retention_s: float, period_s: float | None = None) -> None:
        self.db = db
        self.retention_s = retention_s
        self.period_s = period_s if period_s is not None else min(retention_s, 3600.0)
        self.pruned = 0
        self.last_run: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def prune(self, now: datetime | None = None) -> int:
        """Prune once; return how many rows went."""
        now = now or utcnow()
        n = inbox.prune(self.db, now - timedelta(seconds=self.retention_s))
        self.pruned += n
        self.last_run = now
        if n:
            log.info("inbox: pruned %d finished deliveries older than %g s", n, self.retention_s)
        return n

    def health(self) -> dict[str, Any]:
        """Return what `/healthz` shows about the inbox's retention."""
        return {
            "ok": True,
            "retention_s": self.retention_s,
            "pruned": self.pruned,
            "last_pruned_at": self.last_run.isoformat() if self.last_run else None,
        }

    def start(self) -> None:
        """Prune now and then every period, in the background."""
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.prune)
            except Exception:
                log.exception("inbox: pruning failed; trying again in %g s", self.period_s)
            await asyncio.sleep(self.period_s)

    async def stop(self) -> None:
        """Stop the background pruning."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
