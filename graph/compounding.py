"""Compounding: after a run that changed something, a short outcome note goes to memory.

The note is written from the run's own record (no model call), so later runs can recall what was
done and when. Its text names the run, so a re-driven run dedups onto the same note. When one of the
run's effects is undone, the note is no longer true and is forgotten.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from graph.state import RunState
from memory.db import transaction
from memory.knowledge.errors import KnowledgeError
from memory.knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)

SKIP = ("knowledge.",)


def outcome_note(state: RunState) -> str | None:
    """Return the note for a finished run, or None when it performed no effect."""
    # Memory operations are left out: their effect is memory already, and a note quoting a forgotten
    # item would keep what the operator asked to forget.
    done = [
        r for r in state.results if r.ok and r.event_id and not r.duplicate and not r.key.startswith(SKIP)
    ]
    if not done:
        return None
    asked = " ".join(state.text.split())[:160]
    did = "; ".join(" ".join(r.text.split())[:200] for r in done)
    return f"Outcome of run {state.run_id}: asked {asked!r}. Done: {did}"


class OutcomeNotes:
    """The engine's after-run hook that writes outcome notes."""

    def __init__(self, store: KnowledgeStore, db: Engine) -> None:
        self.store = store
        self.db = db

    def __call__(self, state: RunState) -> None:
        """Write the outcome note of a finished run (trusted unless the run read untrusted content)."""
        text = outcome_note(state)
        if text is None:
            return
        try:
            with transaction(self.db) as s:
                # The embedding (most of an approved turn's time) is made after the reply, off the turn.
                self.store.remember(
                    s, text, kind="outcome", source=f"run:{state.run_id}", trusted=not state.untrusted,
                    defer_embedding=True,
                )
        except KnowledgeError:
            log.warning("outcome note for run %s not written", state.run_id, exc_info=True)
            return
        self.store.embed_later()

    def forget_run(self, run_id: str) -> None:
        """Forget the outcome note of a run one of whose effects was undone (it no longer holds)."""
        try:
            with transaction(self.db) as s:
                gone = self.store.forget_source(s, f"run:{run_id}", "outcome")
        except KnowledgeError:
            log.warning("outcome note of run %s not forgotten", run_id, exc_info=True)
            return
        if gone:
            log.info("forgot the outcome note(s) %s of run %s after an undo", gone, run_id)
