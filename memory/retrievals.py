"""What a run's context was built from: the knowledge items and workspace rows, with their scores.

Recorded so the operator can see why the engine said what it said (``coo trace RUN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, delete
from sqlmodel import Field, Session, SQLModel, col, select

from memory.tables import utcnow


class Retrieval(SQLModel, table=True):
    """One thing retrieved into a run's context."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, max_length=40)
    ref: str = Field(max_length=80)  # knowledge:12, customer:3, ...
    rank: int
    score: float
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow)


def replace(session: Session, run_id: str, rows: Sequence[Retrieval]) -> None:
    """Record a run's retrievals, replacing any from an earlier attempt of the same step."""
    session.execute(delete(Retrieval).where(col(Retrieval.run_id) == run_id))
    for r in rows:
        session.add(r)


def for_run(session: Session, run_id: str) -> Sequence[Retrieval]:
    """Return a run's retrievals in rank order."""
    return session.exec(select(Retrieval).where(Retrieval.run_id == run_id).order_by(col(Retrieval.id))).all()
