"""Where channels posted messages that may be updated in place later (cards, Undo messages, progress)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from memory.db import transaction
from memory.dialect import dialect_insert
from memory.tables import MessageRef, utcnow

_REFS: Any = MessageRef.__table__  # type: ignore[attr-defined]


def put(engine: Engine, channel: str, key: str, ref: dict[str, Any]) -> None:
    """Remember (or overwrite) where a keyed message was posted."""
    with transaction(engine) as s:
        upsert(s, channel, key, ref)


def upsert(session: Session, channel: str, key: str, ref: dict[str, Any]) -> None:
    """Remember (or overwrite) where a keyed message was posted, inside the caller's transaction.

    One statement: two posts of the same keyed message recorded at once (a click's reply and a job's
    owed edit of the same card) both succeed, where a lookup then an insert let the second fail.
    """
    now = utcnow()
    stmt = dialect_insert(session, _REFS).values(channel=channel, key=key, ref=ref, at=now)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["channel", "key"], set_={"ref": ref, "at": now})
    )


def get(engine: Engine, channel: str, key: str) -> dict[str, Any] | None:
    """Return where a keyed message was posted, if known."""
    with Session(engine) as s:
        row = s.get(MessageRef, (channel, key))
    return dict(row.ref) if row else None
