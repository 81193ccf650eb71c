"""A channel outbound that records what it was asked to post and edit (thread-safe)."""

from __future__ import annotations

import threading
from typing import Any

from bot.messages import Reply


class RecordingOutbound:
    """Records sends and updates; each sent message gets a ref ``{"n": k}``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.updated: list[tuple[dict[str, Any], Reply]] = []
        self._lock = threading.Lock()

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        with self._lock:
            self.sent.append((conversation, reply))
            return {"n": len(self.sent)}

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        with self._lock:
            self.updated.append((ref, reply))

    def texts(self) -> list[str]:
        """Return the text of every sent message, in order."""
        with self._lock:
            return [r.text for _, r in self.sent]

    def edits_of(self, n: int) -> list[str]:
        """Return the texts the message with ref ``{"n": n}`` was edited to, in order."""
        with self._lock:
            return [r.text for ref, r in self.updated if ref == {"n": n}]
