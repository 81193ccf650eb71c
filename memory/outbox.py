"""The outbox: replies owed to a chat, written with the state change that produced them, relayed from here.

`enqueue` writes replies inside the caller's transaction (the one that marks the work done), under
idempotency keys, so work done twice owes its replies once. A relay `claim`s an item (owner + lease,
as inbox claims), posts it, and `sent` records the platform's message reference with the item in one
transaction. A process that dies holding an item leaves it pending: a live process's sweep posts it.
Chat platforms take no idempotency key, so an item whose post was cut off between the platform's answer
and `sent` is posted again: the only duplicates, counted in ``attempts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from memory import refs
from memory.db import transaction
from memory.tables import OutboxItem, utcnow


def enqueue(
    s: Session, key: str, channel: str, conversation: str, payloads: list[dict[str, Any]]
) -> list[str]:
    """Owe ``payloads`` to a conversation, keyed ``<key>:<index>``; keys written before are kept as they are."""
    keys = []
    for i, payload in enumerate(payloads):
        k = f"{key}:{i:03d}"[:200]
        keys.append(k)
        if s.get(OutboxItem, k) is None:
            s.add(OutboxItem(key=k, channel=channel, conversation=conversation, payload=payload))
            s.flush()
    return keys


def claim(
    engine: Engine,
    key: str,
    *,
    owner: str,
    lease: timedelta,
    dead: Sequence[str] = (),
    now: datetime | None = None,
) -> OutboxItem | None:
    """Claim a pending item to post it; None if it was sent or a live owner holds it."""
    now = now or utcnow()
    takeable = [
        col(OutboxItem.claimed_by) == "",
        col(OutboxItem.lease_until).is_(None),
        col(OutboxItem.lease_until) < now,
        *([col(OutboxItem.claimed_by).in_(list(dead))] if dead else []),
    ]
    with transaction(engine) as s:
        changed = s.execute(
            update(OutboxItem)
            .where(col(OutboxItem.key) == key, col(OutboxItem.status) == "pending", or_(*takeable))
            .values(claimed_by=owner, lease_until=now + lease, attempts=OutboxItem.attempts + 1)  # type: ignore[operator]
        ).rowcount  # type: ignore[attr-defined]
        return s.get(OutboxItem, key) if changed else None


def sent(engine: Engine, key: str, ref: dict[str, Any] | None, ref_key: str | None = None) -> None:
    """Record a post: the item is sent, and a keyed message's reference is stored with it."""
    with transaction(engine) as s:
        item = s.get(OutboxItem, key)
        if item is None:
            return
        item.status, item.sent_at, item.ref, item.lease_until = "sent", utcnow(), ref, None
        s.add(item)
        if ref_key and ref:
            refs.upsert(s, item.channel, ref_key, ref)


def get(engine: Engine, key: str) -> OutboxItem | None:
    """Return one owed (or sent) reply."""
    with Session(engine) as s:
        return s.get(OutboxItem, key)


def failed(engine: Engine, key: str, error: str) -> None:
    """Give up on an item the platform refused for good (logged; never posted)."""
    with transaction(engine) as s:
        item = s.get(OutboxItem, key)
        if item is not None:
            item.status, item.error, item.lease_until = "failed", error[:2000], None
            s.add(item)


def release(engine: Engine, key: str) -> None:
    """Let another attempt (this process's next sweep, or another's) take a pending item at once."""
    with transaction(engine) as s:
        s.execute(
            update(OutboxItem)
            .where(col(OutboxItem.key) == key, col(OutboxItem.status) == "pending")
            .values(claimed_by="", lease_until=None)
        )


def due(
    engine: Engine,
    channel: str,
    dead: Sequence[str] = (),
    now: datetime | None = None,
    created_before: datetime | None = None,
) -> list[OutboxItem]:
    """Return a channel's pending items nobody alive is posting, oldest first.

    ``created_before`` leaves out younger items (on their way to a post by the process that owes them).
    """
    now = now or utcnow()
    takeable = [
        col(OutboxItem.claimed_by) == "",
        col(OutboxItem.lease_until).is_(None),
        col(OutboxItem.lease_until) < now,
        *([col(OutboxItem.claimed_by).in_(list(dead))] if dead else []),
    ]
    with Session(engine) as s:
        q = select(OutboxItem).where(
            OutboxItem.channel == channel, OutboxItem.status == "pending", or_(*takeable)
        )
        if created_before is not None:
            q = q.where(col(OutboxItem.created_at) < created_before)
        return list(s.exec(q.order_by(col(OutboxItem.created_at), col(OutboxItem.key))).all())


def holders(engine: Engine) -> list[str]:
    """Return the owners holding pending items."""
    with Session(engine) as s:
        q = select(OutboxItem.claimed_by).where(OutboxItem.status == "pending", OutboxItem.claimed_by != "")
        return list(s.exec(q.distinct()).all())


def backlog(engine: Engine) -> dict[str, int]:
    """Return how many replies wait to be posted, and how many of them were tried before (a crash, an error)."""
    with Session(engine) as s:
        pending = s.exec(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
        ).one()
        retried = s.exec(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.status == "pending", col(OutboxItem.attempts) > 0)
        ).one()
    return {"pending": int(pending), "retried": int(retried)}
