"""The durable inbox: a delivery is recorded under the platform's delivery id before it is acknowledged.

A duplicate delivery (a retry, a concurrent copy) stops at `record`. Processing is claimed with a
conditional UPDATE, so two processes never work on one delivery at once; an item whose claim is older
than the lease (its process died) can be claimed again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.tables import InboxItem, utcnow


def record(
    engine: Engine,
    *,
    delivery_id: str,
    channel: str,
    conversation: str,
    actor: str,
    text: str,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Record a delivery; return False when it was seen before (nothing is written then)."""
    try:
        with transaction(engine) as s:
            if s.get(InboxItem, delivery_id) is not None:
                return False
            s.add(
                InboxItem(
                    delivery_id=delivery_id,
                    channel=channel,
                    conversation=conversation,
                    actor=actor,
                    text=text,
                    meta=meta or {},
                )
            )
        return True
    except IntegrityError:
        return False


def claim(
    engine: Engine,
    delivery_id: str,
    lease: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
    stale_before: datetime | None = None,
) -> bool:
    """Claim a delivery for processing; False if done, or claimed by a live process.

    Args:
        engine: The database.
        delivery_id: The delivery.
        lease: A claim older than this is taken to be a dead process's.
        now: The time (tests).
        stale_before: Claims made before this (e.g. before this process started) are taken over at once.
    """
    now = now or utcnow()
    expired = now - lease if stale_before is None else max(now - lease, stale_before)
    with transaction(engine) as s:
        changed = s.execute(
            update(InboxItem)
            .where(col(InboxItem.delivery_id) == delivery_id)
            .where(
                or_(
                    col(InboxItem.status) == "received",
                    (col(InboxItem.status) == "processing") & (col(InboxItem.claimed_at) < expired),
                )
            )
            .values(status="processing", claimed_at=now, attempts=InboxItem.attempts + 1)  # type: ignore[operator]
        ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def finish(engine: Engine, delivery_id: str, status: str = "done") -> None:
    """Mark a delivery done (or failed)."""
    with transaction(engine) as s:
        s.execute(
            update(InboxItem)
            .where(col(InboxItem.delivery_id) == delivery_id)
            .values(status=status, processed_at=utcnow())
        )


def get(engine: Engine, delivery_id: str) -> InboxItem | None:
    """Return one delivery."""
    with Session(engine) as s:
        return s.get(InboxItem, delivery_id)


def unfinished(engine: Engine, channel: str | None = None) -> list[InboxItem]:
    """Return deliveries not yet done, oldest first."""
    with Session(engine) as s:
        q = select(InboxItem).where(col(InboxItem.status).in_(["received", "processing"]))
        if channel:
            q = q.where(InboxItem.channel == channel)
        return list(s.exec(q.order_by(col(InboxItem.received_at))).all())


def prune(engine: Engine, before: datetime) -> int:
    """Delete finished deliveries (done or failed) received before ``before``; return how many.

    A pruned delivery id no longer deduplicates: keep the retention far above any platform's retry span.
    """
    with transaction(engine) as s:
        return int(
            s.execute(
                delete(InboxItem)
                .where(col(InboxItem.status).in_(["done", "failed"]))
                .where(col(InboxItem.received_at) < before)
            ).rowcount  # type: ignore[attr-defined]
        )
