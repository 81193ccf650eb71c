"""Where channels posted messages that may be updated in place later (cards, Undo messages, progress)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from memory.db import transaction
from memory.tables import MessageRef, utcnow


def put(engine: Engine, channel: str, key: str, ref: dict[str, Any]) -> None:
    """Remember (or overwrite) where a keyed message was posted."""
    with transaction(engine) as s:
        row = s.get(MessageRef, (channel, key))
        if row is None:
            s.add(MessageRef(channel=channel, key=key, ref=ref))
        else:
            row.ref, row.at = ref, utcnow()
            s.add(row)


def get(engine: Engine, channel: str, key: str) -> dict[str, Any] | None:
    """Return where a keyed message was posted, if known."""
    with Session(engine) as s:
        row = s.get(MessageRef, (channel, key))
    return dict(row.ref) if row else None
