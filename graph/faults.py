"""Fault injection for crash tests: kill the process (as kill -9 would) at a named step boundary.

Production code calls `faults.hit("point")` at each boundary; the default `NO_FAULTS` does nothing.
Only tests construct a `Faults` with a point to crash at.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

POINTS = (
    "after_inbox_write",  # the delivery is recorded (and would be acked); nothing processed yet
    "after_claim",  # the delivery is claimed; the engine has not seen it
    "before_post",  # replies are owed (in the outbox), the next one not yet posted
    "after_send",  # the platform took a post; its reference and "sent" are not yet stored
    "after_post",  # a reply (a card) was posted to the chat and recorded as sent
    "after_approval_recorded",  # the decision is in the database; the graph has not resumed
    "before_effect",  # about to perform the approved effect
    "after_effect",  # the effect ran inside its transaction; its event not yet written
    "after_event_written",  # effect and event written, not yet committed
    "after_commit",  # effect and event committed; the graph has not checkpointed the step
    "during_undo",  # the compensation ran inside its transaction, not yet committed
    "after_undo_commit",  # the compensation is committed; nothing told to the chat
)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Faults:
    """Crash at one named point (or nowhere)."""

    def __init__(self, crash_at: str | None = None, action: Callable[[], None] = _kill, nth: int = 1) -> None:
        if crash_at is not None and crash_at not in POINTS:
            raise ValueError(f"unknown fault point {crash_at!r}; one of {', '.join(POINTS)}")
        self.crash_at = crash_at
        self.action = action
        self.nth = nth  # crash at the nth time the point is reached
        self._seen = 0

    @classmethod
    def from_env(cls) -> Faults:
        """Return the faults ``COO_TEST_CRASH_AT=<point>[@<n>]`` asks for (crash tests of real processes).

        Unset (always, outside tests): no faults.
        """
        spec = os.environ.get("COO_TEST_CRASH_AT")
        if not spec:
            return NO_FAULTS
        point, _, nth = spec.partition("@")
        return cls(point, nth=int(nth or 1))

    def hit(self, point: str) -> None:
        """Crash here if this is the chosen point (the nth time it is reached)."""
        if point == self.crash_at:
            self._seen += 1
            if self._seen >= self.nth:
                self.action()


NO_FAULTS = Faults()
