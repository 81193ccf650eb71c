"""Limits that bound what one message or one user can make the engine do."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-message, per-run and per-user bounds.

    Attributes:
        max_input_chars: Longest message accepted.
        max_steps: LangGraph recursion limit for one run (steps across the graph).
        requests_per_minute: Requests one actor may start per minute.
    """

    max_input_chars: int = 8_000
    max_steps: int = 25
    requests_per_minute: int = 120


class RateLimiter:
    """A sliding one-minute window per actor (in process; each process enforces its own)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, actor: str, now: float | None = None) -> bool:
        """Record a request and tell whether it is within the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._seen.setdefault(actor, deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


def refusal(limits: Limits, rate: RateLimiter, actor: str, text: str) -> str | None:
    """Return why a request is refused before anything is done (too long, too fast), or None."""
    if len(text) > limits.max_input_chars:
        return (
            f"That message is too long ({len(text):,} characters; the limit is "
            f"{limits.max_input_chars:,}). Nothing was done."
        )
    if not rate.allow(actor):
        return "You are sending requests faster than I take them; wait a minute. Nothing was done."
    return None
