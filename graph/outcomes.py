"""What the engine tells a channel: channel-neutral results the adapters render as messages and cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agents.contract import Action


@dataclass(frozen=True)
class Say:
    """Plain words for the operator."""

    text: str


@dataclass(frozen=True)
class Notice(Say):
    """Words only for whoever asked: a refusal or a stale button (already decided, not allowed, ...)."""


@dataclass(frozen=True)
class Offer(Say):
    """A "did you mean": the nearest commands, which the operator may pick (buttons; numbers in the console)."""

    run_id: str = ""
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ask:
    """An action waiting for approval: render as a card with Approve / Reject."""

    approval_id: str
    run_id: str
    action: Action
    reason: str
    expires_at: datetime


@dataclass(frozen=True)
class Done:
    """An action that ran; ``undo_event`` is set when it can be undone."""

    run_id: str
    text: str
    undo_event: str | None = None
    duplicate: bool = False
    effect: bool = True


@dataclass(frozen=True)
class Refused:
    """A proposal policy denied, reported rather than dropped."""

    text: str


@dataclass(frozen=True)
class Failed:
    """A run or action that failed; render with a Retry button for the run."""

    run_id: str
    text: str


@dataclass(frozen=True)
class Decided:
    """An approval was just decided: update its card in place."""

    approval_id: str
    decision: str
    by: str
    at: datetime
    summary: str


@dataclass(frozen=True)
class Undone:
    """An effect was compensated: update its message."""

    event_id: str
    text: str


Outcome = Say | Notice | Offer | Ask | Done | Refused | Failed | Decided | Undone
