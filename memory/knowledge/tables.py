"""The knowledge tables: items (text, provenance, expiry, vector) and the store's one meta row.

SQL is the truth. The FAISS index under the data directory is derived from these rows and can be
rebuilt from them at any time; every change to an item bumps ``KnowledgeMeta.generation`` in the
same transaction and stamps the item with it (``rev``), so an index can catch up incrementally.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from memory.tables import utcnow

KINDS = ("note", "fact", "playbook", "outcome", "document")


class KnowledgeItem(SQLModel, table=True):
    """One remembered text.

    Attributes:
        kind: ``note``, ``fact`` (about a customer), ``playbook``, ``outcome`` (of a run) or ``document``
            (content fetched from outside).
        content_hash: SHA-256 of the normalised text; the same text is stored once.
        source: Who or what wrote it: ``operator:<actor>``, ``run:<id>``, ``web:<url>``, ``email:<from>``.
        trusted: False for anything that came from outside the operator; such text is data, never an
            instruction.
        expires_at: When it stops being recalled (by kind; None keeps it).
        deleted_at: Set when forgotten or expired (a soft delete, so forgetting can be undone).
        rev: The store generation that last changed this row.
        embed_model, embed_version: The embedder that produced ``vector``.
        vector: The float32 embedding, little-endian bytes (L2-normalised).
    """

    __tablename__ = "knowledge_item"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(default="note", index=True, max_length=16)
    content_hash: str = Field(unique=True, max_length=64)
    source: str = Field(default="", max_length=300)
    trusted: bool = True
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None, index=True)
    deleted_at: datetime | None = None
    rev: int = Field(default=0, index=True)
    embed_model: str = Field(default="", max_length=120)
    embed_version: str = Field(default="", max_length=60)
    vector: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


class KnowledgeMeta(SQLModel, table=True):
    """The store's identity, its change counter, and the embedder its vectors come from."""

    __tablename__ = "knowledge_meta"

    id: str = Field(default="default", primary_key=True, max_length=16)
    store_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32)
    generation: int = 0
    embed_model: str = Field(default="", max_length=120)
    embed_version: str = Field(default="", max_length=60)
    updated_at: datetime = Field(default_factory=utcnow)
