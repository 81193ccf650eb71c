"""Tables of the job system: the job table (the system of record for long work) and the digest slots.

A job moves ``queued → running → done``; a failed attempt goes back to ``queued`` with a later
``run_at`` until its attempts run out, then to ``dead`` (a dead letter, with every attempt's error).
``cancelled`` is final too (an undone delayed send). While ``running``, ``lease_until`` says how long
the worker's claim holds; a lease that expires makes the job claimable again (its worker died).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from memory.tables import new_id, utcnow

FINAL = ("done", "dead", "cancelled")


class Job(SQLModel, table=True):
    """One piece of long work, written in the same transaction as the request that asks for it."""

    id: str = Field(default_factory=lambda: new_id("job"), primary_key=True, max_length=40)
    key: str = Field(unique=True, max_length=200)  # idempotency key: one job per key, effects keyed by it
    kind: str = Field(index=True, max_length=80)  # which actor runs it
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    conversation: str = Field(default="", max_length=200)  # where progress and the result go
    status: str = Field(default="queued", index=True, max_length=16)  # queued|running|done|dead|cancelled
    attempts: int = 0
    max_attempts: int = 3
    run_at: datetime = Field(default_factory=utcnow, index=True)  # not before (delayed sends, backoff)
    lease_until: datetime | None = None
    worker: str | None = Field(default=None, max_length=80)
    progress: str | None = Field(default=None, sa_column=Column(Text))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class DigestSlot(SQLModel, table=True):
    """A daily digest claimed for one day and destination; the primary key makes it once per day."""

    day: str = Field(primary_key=True, max_length=10)  # the local date the digest is for
    destination: str = Field(primary_key=True, max_length=200)
    job_id: str = Field(max_length=40)
    claimed_by: str = Field(default="", max_length=80)
    claimed_at: datetime = Field(default_factory=utcnow)


class DigestWindow(SQLModel, table=True):
    """The span one digest job covered for one destination."""

    job_id: str = Field(primary_key=True, max_length=40)
    destination: str = Field(index=True, max_length=200)
    since: datetime
    until: datetime
    created_at: datetime = Field(default_factory=utcnow)
