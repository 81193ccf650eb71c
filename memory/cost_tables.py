"""Tables for cost control: budget caps set from chat, spend counters, reservations, the response cache.

Money in counters and reservations is integer nano-dollars (1e-9 USD): per-token prices are far below
a cent, and integers add up exactly under concurrent updates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from memory.tables import new_id, utcnow

NANOS_PER_USD = 1_000_000_000


class BudgetCap(SQLModel, table=True):
    """A cap set from chat; it overrides the settings' default for its scope and period.

    ``usd`` None means "explicitly no cap".
    """

    __tablename__ = "budget_cap"

    scope: str = Field(primary_key=True, max_length=80)  # "all" or "agent:<name>"
    period: str = Field(primary_key=True, max_length=8)  # daily|monthly
    usd: float | None = None
    set_by: str = Field(max_length=200)
    set_at: datetime = Field(default_factory=utcnow)


class BudgetCounter(SQLModel, table=True):
    """What one scope spent and holds reserved in one period (a day or a month)."""

    __tablename__ = "budget_counter"

    scope: str = Field(primary_key=True, max_length=80)
    period: str = Field(primary_key=True, max_length=12)  # d:2026-11-24 | m:2026-11
    spent_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    reserved_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class BudgetReservation(SQLModel, table=True):
    """An estimate held against the counters while a model call is in flight."""

    __tablename__ = "budget_reservation"

    id: str = Field(default_factory=lambda: new_id("rsv"), primary_key=True, max_length=40)
    run_id: str = Field(index=True, max_length=40)
    agent: str = Field(max_length=64)
    model: str = Field(max_length=120)
    nanos: int = Field(sa_column=Column(BigInteger, nullable=False))
    day: str = Field(max_length=10)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class CachedResponse(SQLModel, table=True):
    """A model's answer to one exact prompt (model + messages + tools + parameters)."""

    __tablename__ = "cached_response"

    key: str = Field(primary_key=True, max_length=64)  # sha256 of model and prompt
    prompt_hash: str = Field(index=True, max_length=64)  # sha256 of the prompt alone
    model: str = Field(max_length=120)
    message: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)
