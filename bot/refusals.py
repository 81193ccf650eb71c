"""Refuse a stranger once per period: a flood from one non-operator gets one refusal, not one per message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Refusals:
    """Tells whether a refusal may be sent to an actor now (at most one per ``period_s`` each).

    Args:
        period_s: The period; 0 refuses every message.
        clock: Monotonic seconds (tests).
        max_actors: Actors remembered at once; past it, those refused longest ago are forgotten.
    """

    def __init__(
        self, period_s: float, clock: Callable[[], float] = time.monotonic, max_actors: int = 10_000
    ) -> None:
        self.period_s = period_s
        self.clock = clock
        self.max_actors = max_actors
        self.suppressed = 0
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, actor: str) -> bool:
        """Return True (and note the time) if ``actor`` has not been refused within the period."""
        now = self.clock()
        with self._lock:
            last = self._last.get(actor)
            if last is not None and now - last < self.period_s:
                self.suppressed += 1
                return False
            self._last.pop(actor, None)
            self._last[actor] = now  # insertion order is refusal order: the oldest come first
            while len(self._last) > self.max_actors:
                del self._last[next(iter(self._last))]
            return True
