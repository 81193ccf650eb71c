"""What the engine tells a channel: channel-neutral results the adapters render as messages and cards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from agents.contract import Action

if TYPE_CHECKING:
    from graph.state import RunState
    from memory.tables import Approval


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


ADVISORY_NOTED = {
    "approved": "Noted: coo was right. It did nothing itself (advisory mode).",
    "rejected": "Noted: coo was wrong. Nothing was changed (advisory mode).",
}

Outcome = Say | Notice | Offer | Ask | Done | Refused | Failed | Decided | Undone


def of_state(state: RunState, waiting: bool, pending: Mapping[str, Approval]) -> list[Outcome]:
    """Return what a run has to say where it stands: its reply, refusals, then cards or results.

    Args:
        state: The run's state at its latest checkpoint.
        waiting: Whether it waits for approvals.
        pending: Its pending approvals by id (read when it waits).
    """
    outs: list[Outcome] = []
    if state.reply:
        outs.append(
            Offer(state.reply, state.run_id, tuple(state.offers)) if state.offers else Say(state.reply)
        )
    for p in state.proposals:
        if p.verdict == "deny":
            outs.append(Refused(p.reason if p.prechecked else f"Refused: {p.reason}"))
    if waiting:
        for p in state.proposals:
            ap = pending.get(p.approval_id or "")
            if ap is not None and p.action is not None:
                outs.append(Ask(ap.id, state.run_id, p.action, p.reason, ap.expires_at))
        return outs
    advisory = {p.approval_id for p in state.proposals if p.advisory}
    for approval_id, decision in state.decisions.items():
        if approval_id in advisory and decision in ("approved", "rejected"):
            outs.append(Say(ADVISORY_NOTED[decision]))
        elif decision != "approved":
            outs.append(Say(f"Not done ({decision}); nothing was changed."))
    for r in state.results:
        if r.ok:
            outs.append(
                Done(
                    state.run_id,
                    r.text,
                    r.event_id if r.reversible else None,
                    r.duplicate,
                    r.event_id is not None,
                )
            )
        else:
            outs.append(Failed(state.run_id, r.text))
    return outs


def text_of(outs: list[Outcome]) -> str:
    """Return outcomes as the text of one assistant turn (a card counts as its summary)."""
    return "\n".join(
        getattr(x, "text", "") or getattr(getattr(x, "action", None), "summary", "") for x in outs
    )
