"""The trust levels the operator granted, append-only: the latest row per kind is the level in force.

Apart from ``memory.trust`` so that ``memory.db`` can register the table without importing the module
that reads the event log. The counts a level is judged on are not stored here: they are derived from
the approvals and the event log (``memory.trust``), the one source of truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from memory.tables import utcnow


class TrustLevel(SQLModel, table=True):
    """One change of an action kind's level: granted by an operator's approval, or a demotion by coo.

    Attributes:
        kind: The action kind, ``agent.operation``.
        level: ``advisory``, ``ask`` or ``auto``.
        bound_cents: For ``auto``: the largest amount it covers (None: the action moves no money).
        reason: Why: the approval that granted it, or the undo or failure that demoted it.
        by: Who: the approving operator, or ``coo`` for a demotion.
        source: The approval id or event id behind the change (unique: a change is recorded once).
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=80)
    level: str = Field(max_length=16)
    bound_cents: int | None = None
    reason: str = Field(default="", max_length=500)
    by: str = Field(max_length=200)
    source: str = Field(unique=True, max_length=128)
    at: datetime = Field(default_factory=utcnow, index=True)
