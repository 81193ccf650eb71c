"""Claiming a batch (memory/inbox.py `claim_next`): at most the limit, the oldest first, never a live
owner's, a dead owner's once its lease runs out, and on PostgreSQL a row another process is claiming is
skipped, not waited on."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from memory import inbox
from memory.owner import Owner
from memory.tables import InboxItem, utcnow


def record(db: Engine, key: str, channel: str = "slack") -> None:
    assert inbox.record(db, delivery_id=key, channel=channel, conversation="c", actor="a", text="hi")


def test_a_batch_takes_at_most_the_limit_oldest_first_and_two_owners_split_the_backlog(db: Engine):
    a, b = Owner(db, takeover_s=4), Owner(db, takeover_s=4)
    for i in range(5):
        record(db, f"slack:e{i}")
    record(db, "telegram:t0", channel="telegram")
    assert a.claim_next(["slack"], 2) == [("slack", "slack:e0"), ("slack", "slack:e1")]
    assert b.claim_next(["slack"], 2) == [("slack", "slack:e2"), ("slack", "slack:e3")]
    assert a.claim_next(["slack"], 0) == []
    assert a.claim_next(["slack", "telegram"], 5) == [("slack", "slack:e4"), ("telegram", "telegram:t0")]
    assert b.claim_next(["slack", "telegram"], 5) == []  # all held by live owners
    # A claim made in a batch is an ordinary claim: nobody else may claim it, its owner renews it.
    assert not b.claim("slack:e0")
    assert a.renew() == 4
    with Session(db) as s:
        item = s.get(InboxItem, "slack:e2")
        assert item is not None and item.claimed_by == b.id and item.attempts == 1
        assert item.status == "processing" and item.lease_until is not None


def test_a_batch_takes_over_a_claim_whose_lease_ran_out_but_no_finished_one(db: Engine):
    a, b = Owner(db, takeover_s=4), Owner(db, takeover_s=4)
    record(db, "slack:e1")
    record(db, "slack:e2")
    assert a.claim_next(["slack"], 2) == [("slack", "slack:e1"), ("slack", "slack:e2")]
    inbox.finish(db, "slack:e2")
    # a died: within its lease nobody takes e1; after it, a batch does (and never the finished e2).
    soon = utcnow() + timedelta(seconds=2)
    assert inbox.claim_next(db, ["slack"], 5, b.lease, owner=b.id, now=soon) == []
    after = utcnow() + timedelta(seconds=3.1)
    assert inbox.claim_next(db, ["slack"], 5, b.lease, owner=b.id, now=after) == [("slack", "slack:e1")]
    with Session(db) as s:
        item = s.get(InboxItem, "slack:e1")
        assert item is not None and item.claimed_by == b.id and item.attempts == 2


def test_a_row_another_transaction_is_claiming_is_skipped_not_waited_on(db: Engine):
    if db.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite writes one at a time")
    me = Owner(db, takeover_s=4)
    record(db, "slack:e1")
    record(db, "slack:e2")
    with db.connect() as other:
        # Another process in the middle of claiming e1: its row is locked until that transaction ends.
        other.execute(text("SELECT delivery_id FROM inboxitem WHERE delivery_id = 'slack:e1' FOR UPDATE"))
        got: list[list[tuple[str, str]]] = []
        t = threading.Thread(target=lambda: got.append(me.claim_next(["slack"], 2)), daemon=True)
        t.start()
        t.join(60)  # a wait on e1's lock would last until `other` ends, which is after this join
        finished = not t.is_alive()
        other.rollback()
    t.join(60)
    assert finished, "the batch claim waited on a row another transaction holds"
    assert got == [[("slack", "slack:e2")]]
    assert me.claim_next(["slack"], 2) == [("slack", "slack:e1")]  # free again once that ended
