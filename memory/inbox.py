"""The durable inbox: a delivery is recorded under the platform's delivery id before it is acknowledged.

A duplicate delivery (a retry, a concurrent copy) stops at `record`. Processing is claimed with a
conditional UPDATE, so two processes never work on one delivery at once. A claim names its owner and
holds until its lease, which the owner renews while it lives (memory/owner.py); a claim whose lease
ran out, or whose owner is known dead, can be claimed again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.dialect import dialect_insert
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
    """Record a delivery; return False when it was seen before (nothing is written then).

    One statement (an INSERT that skips a delivery id already there) in a transaction of its own: this
    is the write an acknowledgement waits for, so it holds the database's write turn as briefly as it can.
    """
    row = InboxItem(
        delivery_id=delivery_id,
        channel=channel,
        conversation=conversation,
        actor=actor,
        text=text,
        meta=meta or {},
    )
    values = {c.name: getattr(row, c.name) for c in _INBOX.columns}
    try:
        with transaction(engine) as s:
            stmt = dialect_insert(s, _INBOX).values(values).on_conflict_do_nothing(index_elements=["delivery_id"])
            return s.execute(stmt.returning(_INBOX.c.delivery_id)).first() is not None
    except IntegrityError:
        return False


_INBOX: Any = InboxItem.__table__  # type: ignore[attr-defined]


def claim(
    engine: Engine,
    delivery_id: str,
    lease: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
    stale_before: datetime | None = None,
    *,
    owner: str = "",
    dead: Sequence[str] = (),
) -> bool:
    """Claim a delivery for processing; False if done, or claimed by a live process.

    Args:
        engine: The database.
        delivery_id: The delivery.
        lease: How long the claim holds; an owner (memory/owner.py) renews it while it lives.
        now: The time (tests).
        stale_before: Owner-less claims made before this are taken over at once (a single process).
        owner: Who claims (an `Owner` id); its claim expires at ``now + lease`` unless renewed.
        dead: Owners known to be dead: their claims are taken over whatever their lease says.
    """
    now = now or utcnow()
    expired = now - lease if stale_before is None else max(now - lease, stale_before)
    taken_over = or_(
        (col(InboxItem.lease_until).is_(None)) & (col(InboxItem.claimed_at) < expired),
        col(InboxItem.lease_until) < now,
        *([col(InboxItem.claimed_by).in_(list(dead))] if dead else []),
    )
    with transaction(engine) as s:
        changed = s.execute(
            update(InboxItem)
            .where(col(InboxItem.delivery_id) == delivery_id)
            .where(
                or_(col(InboxItem.status) == "received", (col(InboxItem.status) == "processing") & taken_over)
            )
            .values(
                status="processing",
                claimed_at=now,
                claimed_by=owner,
                lease_until=now + lease if owner else None,
                attempts=InboxItem.attempts + 1,  # type: ignore[operator]
            )
        ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def claim_next(
    engine: Engine,
    channels: Sequence[str],
    limit: int,
    lease: timedelta,
    *,
    owner: str,
    skip: Collection[str] = (),
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Claim up to ``limit`` of the oldest deliveries nobody alive holds; return their (channel, id).

    One transaction: the rows are chosen and claimed together, and on PostgreSQL a row another
    transaction is claiming is skipped (``FOR UPDATE SKIP LOCKED``), not waited on, so processes
    that look at once take different deliveries instead of queueing on the same ones. What may be
    claimed is what `claim` allows without a list of the dead: never claimed, or a lease run out.

    Args:
        engine: The database.
        channels: The inbox channels to take from.
        limit: The most to claim.
        lease: How long the claims hold; the owner (memory/owner.py) renews them while it lives.
        owner: Who claims (an `Owner` id).
        skip: Deliveries not to claim (the caller already started work on them: that work claims them).
        now: The time (tests).
    """
    if limit <= 0 or not channels:
        return []
    now = now or utcnow()
    free = (col(InboxItem.status) == "received") | (
        (col(InboxItem.status) == "processing") & (col(InboxItem.lease_until) < now)
    )
    chosen = (
        select(InboxItem.delivery_id)
        .where(col(InboxItem.channel).in_(list(channels)), free)
        .where(col(InboxItem.delivery_id).not_in(list(skip)) if skip else true())
        .order_by(col(InboxItem.received_at))
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite has no row locks: its writes are one at a time anyway
    )
    with transaction(engine) as s:
        # Chosen first, then claimed, in one transaction that holds the chosen rows' locks: as one
        # UPDATE ... WHERE id IN (SELECT ... LIMIT n SKIP LOCKED), PostgreSQL may run the subquery
        # again per row and so claim more than ``limit``.
        keys = list(s.execute(chosen).scalars())
        if not keys:
            return []
        rows = s.execute(
            update(InboxItem)
            .where(col(InboxItem.delivery_id).in_(keys), free)
            .values(
                status="processing",
                claimed_at=now,
                claimed_by=owner,
                lease_until=now + lease,
                attempts=InboxItem.attempts + 1,  # type: ignore[operator]
            )
            .returning(_INBOX.c.channel, _INBOX.c.delivery_id, _INBOX.c.received_at)
        ).all()
    return [(c, k) for c, k, _ in sorted(rows, key=lambda r: r[2])]


def claimable(
    engine: Engine,
    channel: str,
    dead: Sequence[str] = (),
    now: datetime | None = None,
    received_before: datetime | None = None,
) -> list[str]:
    """Return the deliveries of a channel nobody alive works on (never claimed, expired, or a dead owner's).

    ``received_before`` limits the never-claimed ones to those recorded before then.
    """
    now = now or utcnow()
    received = col(InboxItem.status) == "received"
    if received_before is not None:
        received = received & (col(InboxItem.received_at) < received_before)
    conds = [
        received,
        (col(InboxItem.status) == "processing") & (col(InboxItem.lease_until) < now),
    ]
    if dead:
        conds.append((col(InboxItem.status) == "processing") & col(InboxItem.claimed_by).in_(list(dead)))
    with Session(engine) as s:
        q = select(InboxItem.delivery_id).where(InboxItem.channel == channel, or_(*conds))
        return list(s.exec(q.order_by(col(InboxItem.received_at))).all())


def holders(engine: Engine) -> list[str]:
    """Return the owners holding claims on deliveries in processing."""
    with Session(engine) as s:
        q = select(InboxItem.claimed_by).where(InboxItem.status == "processing", InboxItem.claimed_by != "")
        return list(s.exec(q.distinct()).all())


def finish_in(s: Session, delivery_id: str, status: str = "done") -> None:
    """Mark a delivery done (or failed) inside the caller's transaction."""
    s.execute(
        update(InboxItem)
        .where(col(InboxItem.delivery_id) == delivery_id)
        .values(status=status, processed_at=utcnow(), lease_until=None)
    )


def finish(engine: Engine, delivery_id: str, status: str = "done") -> None:
    """Mark a delivery done (or failed)."""
    with transaction(engine) as s:
        finish_in(s, delivery_id, status)


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


def backlog(engine: Engine, now: datetime | None = None) -> dict[str, int]:
    """Return deliveries not yet done, and how many of them wait to be taken over (their claim ran out)."""
    now = now or utcnow()
    with Session(engine) as s:
        rows = s.exec(
            select(InboxItem.status, InboxItem.lease_until).where(
                col(InboxItem.status).in_(["received", "processing"])
            )
        ).all()
    expired = sum(1 for status, until in rows if status == "processing" and until is not None and until < now)
    return {"unfinished": len(rows), "waiting_takeover": expired}
