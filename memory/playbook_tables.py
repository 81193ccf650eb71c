"""The playbooks' tables: their versions, whether each is paused, and their runs (one per trigger slot).

Apart from ``graph.playbooks`` so that ``memory.db`` registers them without importing the logic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from memory.tables import new_id, utcnow


class PlaybookVersion(SQLModel, table=True):
    """One stored version of a playbook's YAML (the highest is the current one)."""

    __table_args__ = (UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=64)
    version: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class PlaybookSwitch(SQLModel, table=True):
    """Whether a playbook is paused, and since when its slots count (slots before are not missed)."""

    name: str = Field(primary_key=True, max_length=64)
    paused: bool = False
    since: datetime = Field(default_factory=utcnow)
    changed_by: str = Field(default="", max_length=200)


class PlaybookRun(SQLModel, table=True):
    """One run of a playbook; ``(playbook, slot)`` is unique, so a slot is claimed by one process only.

    ``slot`` is the trigger slot's UTC time (ISO) for a schedule, ``manual:<id>`` for `playbook run`,
    ``event:<key>`` for an event. Status: running, waiting (a card), done, failed, skipped (a missed
    slot the operator skipped), missed (found after downtime, waiting for the operator's choice).
    """

    __table_args__ = (UniqueConstraint("playbook", "slot"),)

    id: str = Field(default_factory=lambda: new_id("pbr"), primary_key=True, max_length=40)
    playbook: str = Field(index=True, max_length=64)
    version: int = 1
    slot: str = Field(max_length=100)
    status: str = Field(default="running", index=True, max_length=16)
    step: str = Field(default="", max_length=64)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    conversation: str = Field(default="", max_length=200)
    # The operator's say on a stopped run: steps to skip, and per step how often Retry ran it again.
    control: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
