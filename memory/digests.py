"""What each digest covered, per destination, so the next one starts exactly where the last one ended.

A digest job records its window ``[since, until)`` under its own id before it reads anything: a retry
of the same job reads the same window again. The next digest to that destination starts at the
``until`` of the latest digest that was delivered (its job is done), so nothing falls between two
digests and nothing is counted twice; the first one covers the last 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.job_tables import DigestWindow, Job

FIRST_SPAN = timedelta(hours=24)


@dataclass(frozen=True)
class Window:
    """A digest's span; ``first`` when no earlier digest reached this destination."""

    since: datetime
    until: datetime
    first: bool


def window(db: Engine, *, job_id: str, destination: str, now: datetime) -> Window:
    """Return (recording it the first time) the span the digest job ``job_id`` covers."""
    with transaction(db) as s:
        mine = s.get(DigestWindow, job_id)
        if mine is not None:
            return Window(mine.since, mine.until, _previous(s, destination, job_id) is None)
        prev = _previous(s, destination, job_id)
        since = prev.until if prev is not None else now - FIRST_SPAN
        s.add(DigestWindow(job_id=job_id, destination=destination, since=since, until=max(now, since)))
        return Window(since, max(now, since), prev is None)


def _previous(s: Session, destination: str, job_id: str) -> DigestWindow | None:
    return s.exec(
        select(DigestWindow)
        .join(Job, col(Job.id) == col(DigestWindow.job_id))
        .where(
            DigestWindow.destination == destination,
            col(DigestWindow.job_id) != job_id,
            Job.status == "done",
        )
        .order_by(col(DigestWindow.until).desc())
    ).first()
