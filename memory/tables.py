"""SQLModel tables: the authoritative workspace and the engine's own records.

Times are timezone-aware UTC (SQLModel refuses naive ones); `utcnow()` makes them.
Money is integer cents.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Return a short random id with a readable prefix, e.g. ``ap_3f2c…``."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class InboxItem(SQLModel, table=True):
    """A delivery from a channel, recorded before it is acknowledged."""

    delivery_id: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=32)
    conversation: str = Field(max_length=200)
    actor: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="received", index=True, max_length=16)  # received|processing|done|failed
    attempts: int = 0
    received_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    claimed_by: str = Field(default="", max_length=80)  # the owner (memory/owner.py) holding the claim
    lease_until: datetime | None = None  # the claim holds until then; its owner renews it while alive
    processed_at: datetime | None = None


class OutboxItem(SQLModel, table=True):
    """A reply owed to a chat, written with the state change that produced it and relayed from here.

    The key is the reply's idempotency key (``<what produced it>:<index>``): writing it again is a
    no-op, so a re-run of the same work never owes the reply twice.
    """

    key: str = Field(primary_key=True, max_length=200)
    channel: str = Field(index=True, max_length=32)
    conversation: str = Field(max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True, max_length=16)  # pending|sent|failed
    attempts: int = 0
    claimed_by: str = Field(default="", max_length=80)
    lease_until: datetime | None = None
    ref: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None


class Run(SQLModel, table=True):
    """One request through the graph; its LangGraph thread id is the run id."""

    id: str = Field(default_factory=lambda: new_id("run"), primary_key=True, max_length=40)
    conversation: str = Field(index=True, max_length=200)
    channel: str = Field(max_length=32)
    actor: str = Field(max_length=200)
    input: str = Field(sa_column=Column(Text, nullable=False))
    deciders: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    untrusted: bool = False
    status: str = Field(default="running", index=True, max_length=16)  # running|waiting|done|failed|retried
    planner: str = Field(default="", max_length=200)  # the planner and its prompts' versions
    cost_usd: float = 0.0
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None


class Approval(SQLModel, table=True):
    """A single-use decision on one exact action, bound to its hash and to who may decide."""

    id: str = Field(default_factory=lambda: new_id("ap"), primary_key=True, max_length=40)
    run_id: str = Field(index=True, max_length=40)
    conversation: str = Field(index=True, max_length=200)
    action_hash: str = Field(max_length=64)
    action: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", max_length=500)
    deciders: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True, max_length=16)  # pending|approved|rejected|expired
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    card_ref: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    __table_args__ = (UniqueConstraint("run_id", "action_hash", name="uq_approval_run_action"),)


class Event(SQLModel, table=True):
    """An append-only record of something the engine did, and how to take it back."""

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(default_factory=lambda: new_id("ev"), unique=True, max_length=40)
    run_id: str = Field(index=True, max_length=40)
    conversation: str = Field(index=True, max_length=200)
    kind: str = Field(index=True, max_length=32)  # effect|compensation|denied|...
    action: str = Field(default="", max_length=80)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, index=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    compensation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    compensates: str | None = Field(default=None, unique=True, max_length=40)


class LedgerEntry(SQLModel, table=True):
    """A bookkeeping entry; a reversal is a new entry pointing at the one it reverses."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # expense|income|reversal
    amount_cents: int  # signed: income positive, expense negative
    memo: str = Field(default="", max_length=500)
    reverses: int | None = Field(default=None, unique=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Task(SQLModel, table=True):
    """An open or finished to-do of the operator's."""

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16)  # open|done|cancelled|deleted
    idempotency_key: str = Field(unique=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime | None = Field(default=None, index=True)  # an all-day task's: its day's 00:00 local
    due_all_day: bool = False
    conversation: str = Field(default="", max_length=200)  # where it was made: its reminder goes there
    reminder_job: str | None = Field(default=None, max_length=40)  # the queued reminder, cancelled when done


class Turn(SQLModel, table=True):
    """A line of conversation, for the thread's short-term context."""

    id: int | None = Field(default=None, primary_key=True)
    conversation: str = Field(index=True, max_length=200)
    role: str = Field(max_length=16)  # user|assistant
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow)


class Spend(SQLModel, table=True):
    """The priced cost of one model call."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, max_length=40)
    agent: str = Field(default="planner", max_length=64)
    model: str = Field(max_length=120)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    day: str = Field(index=True, max_length=10)
    at: datetime = Field(default_factory=utcnow)
    cached_tokens: int = 0
    rung: str = Field(default="", max_length=16)  # which ladder rung served: primary|cheap|cache|rules


class MessageRef(SQLModel, table=True):
    """Where a channel posted a message that may later be updated in place (a card, an Undo message)."""

    channel: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=200)  # approval:<id> | event:<id> | job:<id>
    ref: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow)
