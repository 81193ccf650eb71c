"""The append-only event log: append and read, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.dialect import dialect_insert
from memory.tables import Event, new_id, utcnow

EVENTS = Event.__table__  # type: ignore[attr-defined]


def append(
    session: Session,
    *,
    run_id: str,
    conversation: str,
    kind: str,
    action: str,
    payload: dict[str, Any],
    actor: str,
    idempotency_key: str,
    compensation: dict[str, Any] | None = None,
    compensates: str | None = None,
) -> Event:
    """Add an event inside the caller's transaction and return it (flushed, with its id)."""
    ev = Event(
        run_id=run_id,
        conversation=conversation,
        kind=kind,
        action=action,
        payload=payload,
        actor=actor,
        idempotency_key=idempotency_key,
        compensation=compensation,
        compensates=compensates,
    )
    session.add(ev)
    session.flush()
    return ev


def append_once(engine: Engine, events: Sequence[dict[str, Any]]) -> None:
    """Append events (``append``'s keyword arguments) in one transaction, skipping keys already recorded.

    When another process records some of them at the same time, the rest are recorded one by one.
    """
    if not events:
        return
    try:
        with transaction(engine) as s:
            append_new(s, events)
    except IntegrityError:
        if len(events) > 1:
            for ev in events:
                append_once(engine, [ev])


def append_new(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Append events (``append``'s keyword arguments) inside the caller's transaction, skipping recorded keys.

    One INSERT for all that skips a key already recorded (ON CONFLICT DO NOTHING), where a SELECT of
    the known keys came first. Another unique value in conflict still fails the caller's commit with
    IntegrityError (``append_once`` then records them one by one).
    """
    if not events:
        return
    seen: set[str] = set()
    rows = []
    for ev in events:
        if ev["idempotency_key"] not in seen:
            seen.add(ev["idempotency_key"])
            rows.append({"compensation": None, "compensates": None, **ev, "id": new_id("ev"), "at": utcnow()})
    # Nothing reads their ids back: the ORM flushed them one by one.
    session.execute(dialect_insert(session, EVENTS).on_conflict_do_nothing(index_elements=["idempotency_key"]), rows)


def by_key(session: Session, idempotency_key: str) -> Event | None:
    """Return the event written under an idempotency key, if any."""
    return session.exec(select(Event).where(Event.idempotency_key == idempotency_key)).first()


def get(session: Session, event_id: str) -> Event | None:
    """Return one event by id."""
    return session.exec(select(Event).where(Event.id == event_id)).first()


def compensation_of(session: Session, event_id: str) -> Event | None:
    """Return the event that compensated the given one, if it was undone."""
    return session.exec(select(Event).where(Event.compensates == event_id)).first()


def for_run(session: Session, run_id: str) -> Sequence[Event]:
    """Return a run's events in the order they were written."""
    return session.exec(select(Event).where(Event.run_id == run_id).order_by(col(Event.seq))).all()


def recorded(engine: Engine, idempotency_key: str) -> bool:
    """Tell whether an event was written under an idempotency key."""
    with Session(engine) as s:
        return by_key(s, idempotency_key) is not None


def run_of(engine: Engine, event_id: str) -> str | None:
    """Return the run an event belongs to (None: no such event)."""
    with Session(engine) as s:
        ev = get(s, event_id)
        return ev.run_id if ev is not None else None


def conversation_of(engine: Engine, event_id: str) -> str | None:
    """Return the conversation an event's effect was done for (None: no such event)."""
    with Session(engine) as s:
        ev = get(s, event_id)
        return ev.conversation if ev is not None else None
