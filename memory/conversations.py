"""The conversation store: the turns of each conversation, the short-term context a planner sees.

A turn is a user's words (redacted before they get here) or what coo answered. Only text written for
the user is stored as an answer: an unexpected error's text never becomes a turn (graph/errors.py).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.tables import Turn

MAX_TURN_CHARS = 2000


def add(session: Session, conversation: str, role: str, text: str) -> None:
    """Add a turn inside the caller's transaction."""
    session.add(Turn(conversation=conversation, role=role, text=text))


class Conversations:
    """Turns per conversation."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def remember(self, conversation: str, role: str, text: str) -> None:
        """Store one turn (cut to ``MAX_TURN_CHARS``); blank text is not stored."""
        if text.strip():
            with transaction(self.db) as s:
                add(s, conversation, role, text[:MAX_TURN_CHARS])

    def recent(self, conversation: str, limit: int, skip_latest: bool = True) -> list[tuple[str, str]]:
        """Return up to ``limit`` recent turns as (role, text), oldest first.

        Args:
            conversation: The conversation key.
            limit: How many turns at most.
            skip_latest: Leave out the newest turn (a run's own input, stored when the run started).
        """
        with Session(self.db) as s:
            rows = s.exec(
                select(Turn)
                .where(Turn.conversation == conversation)
                .order_by(col(Turn.id).desc())
                .limit(limit + (1 if skip_latest else 0))
            ).all()
        if skip_latest:
            rows = rows[1:]
        return [(t.role, t.text) for t in reversed(rows)]
