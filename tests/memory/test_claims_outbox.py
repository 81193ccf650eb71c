"""Claims and the outbox (memory/owner.py, memory/inbox.py, memory/outbox.py): a live owner's claims are
never taken, however old; a dead owner's are, when its lease runs out or, on its own host, at once; an
owed reply is written once per key and posted by whoever holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from memory import inbox, outbox, refs
from memory.db import transaction
from memory.owner import HOST, Owner, dead_locally
from memory.tables import InboxItem, MessageRef, utcnow
from tests.fakes.server import wait_for


def record(db: Engine, key: str, channel: str = "slack") -> None:
    assert inbox.record(db, delivery_id=key, channel=channel, conversation="c", actor="a", text="hi")


def test_a_live_owner_keeps_its_claim_however_long_it_works(db: Engine):
    a, b = Owner(db, takeover_s=4), Owner(db, takeover_s=4)
    record(db, "slack:e1")
    assert a.claim("slack:e1")
    # Long after the first lease would have run out, the owner is still renewing: b may not take it.
    later = utcnow() + timedelta(seconds=30)
    assert a.renew(now=later) == 1
    assert not inbox.claim(db, "slack:e1", b.lease, owner=b.id, now=later + timedelta(seconds=1))
    assert b.claimable("slack", b.dead_holders()) == []
    # A peer's live claim is not dead because it is on this host: its pid is alive.
    assert not dead_locally(a.id, b.id)


def test_a_dead_owners_claim_is_taken_when_its_lease_runs_out(db: Engine):
    a, b = Owner(db, takeover_s=4), Owner(db, takeover_s=4)
    record(db, "slack:e1")
    assert a.claim("slack:e1")
    # a stops renewing (it died): within the lease nobody takes it, after it anyone does.
    assert not inbox.claim(db, "slack:e1", b.lease, owner=b.id, now=utcnow() + timedelta(seconds=2))
    after = utcnow() + timedelta(seconds=3.1)
    assert inbox.claimable(db, "slack", now=after) == ["slack:e1"]
    assert inbox.claim(db, "slack:e1", b.lease, owner=b.id, now=after)
    with Session(db) as s:
        item = s.get(InboxItem, "slack:e1")
        assert item is not None and item.claimed_by == b.id and item.attempts == 2


def test_a_dead_process_on_this_host_is_known_dead_at_once(db: Engine):
    # A process that claimed and exited (as kill -9 leaves it): its pid is gone.
    code = (
        "import sys; from memory.db import make_engine; from memory.owner import Owner; "
        "o = Owner(make_engine(sys.argv[1])); assert o.claim('slack:e1'); print(o.id)"
    )
    record(db, "slack:e1")
    url = db.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COO_")}
    dead_id = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    me = Owner(db)
    assert dead_id.startswith(f"{HOST}/") and dead_locally(dead_id, me.id)
    assert me.dead_holders() == [dead_id]
    assert me.claimable("slack", me.dead_holders()) == ["slack:e1"]
    assert me.claim("slack:e1", me.dead_holders())
    # Another host's owner is never judged by pids here: only its lease tells.
    assert not dead_locally("elsewhere/1:abcd", me.id)
    assert dead_locally(f"{HOST}/{os.getpid()}:00000000", me.id)  # this pid, another life


def test_never_claimed_deliveries_wait_for_the_process_that_recorded_them(db: Engine):
    me = Owner(db, takeover_s=4)
    record(db, "slack:e1")
    assert me.claimable("slack") == []  # just recorded: its process claims it in a moment
    assert me.claimable("slack", starting=True) == ["slack:e1"]


def test_an_owed_reply_is_written_once_per_key_and_posted_once(db: Engine):
    a, b = Owner(db, takeover_s=4), Owner(db, takeover_s=4)
    record(db, "slack:e1")
    for _ in range(2):  # the same work done twice owes its replies once
        with transaction(db) as s:
            keys = outbox.enqueue(
                s, "slack:e1", "slack", "c", [{"text": "card", "key": "approval:1"}, {"text": "b"}]
            )
            inbox.finish_in(s, "slack:e1")
    assert keys == ["slack:e1:000", "slack:e1:001"]
    assert [i.key for i in outbox.due(db, "slack")] == keys
    item = outbox.claim(db, keys[0], owner=a.id, lease=a.lease)
    assert item is not None and item.attempts == 1
    assert outbox.claim(db, keys[0], owner=b.id, lease=b.lease) is None  # a holds it
    outbox.sent(db, keys[0], {"ts": "1.1"}, "approval:1")
    assert outbox.claim(db, keys[0], owner=b.id, lease=b.lease) is None  # sent: never again
    with Session(db) as s:
        ref = s.get(MessageRef, ("slack", "approval:1"))
        assert ref is not None and ref.ref == {"ts": "1.1"}
    # a dies holding the second one: after its lease b posts it.
    assert outbox.claim(db, keys[1], owner=a.id, lease=a.lease) is not None
    assert outbox.due(db, "slack") == []
    later = utcnow() + timedelta(seconds=4)
    assert [i.key for i in outbox.due(db, "slack", now=later)] == [keys[1]]
    taken = outbox.claim(db, keys[1], owner=b.id, lease=b.lease, now=later)
    assert taken is not None and taken.attempts == 2  # a second attempt: possibly a duplicate post
    assert outbox.backlog(db) == {"pending": 1, "retried": 1}


def test_status_and_doctor_say_what_waits_to_be_taken_over_and_what_is_owed(db: Engine):
    from bot.commands import deliveries_line

    a = Owner(db, takeover_s=4)
    record(db, "slack:e1")
    record(db, "slack:e2")
    assert a.claim("slack:e1")
    with transaction(db) as s:
        outbox.enqueue(s, "slack:e0", "slack", "c", [{"text": "owed"}])
    assert deliveries_line(db) == (
        "Deliveries: 2 unfinished, 0 waiting to be taken over; replies owed: 1 (0 tried before)"
    )
    later = utcnow() + timedelta(seconds=4)
    assert inbox.backlog(db, now=later) == {"unfinished": 2, "waiting_takeover": 1}


def test_a_stopped_owner_is_dead_to_the_next_one_in_the_same_process(db: Engine):
    first = Owner(db)
    record(db, "slack:e1")
    assert first.claim("slack:e1")
    first.stop()  # an App closed (a restart in one process): its claims are not renewed any more
    second = Owner(db)
    assert second.dead_holders() == [first.id]
    assert second.claim("slack:e1", second.dead_holders())


def test_two_records_of_one_keyed_message_at_once_both_succeed(db: Engine):
    """A click's reply and a job's owed edit of the same card record its reference together: the one
    that finds the other's uncommitted row waits for it and overwrites it, instead of failing."""
    errors: list[BaseException] = []

    def second() -> None:
        try:
            refs.put(db, "test", "event:e1", {"n": 2})
        except BaseException as exc:  # noqa: BLE001 - the failure is the assertion below
            errors.append(exc)

    with transaction(db) as s:
        refs.upsert(s, "test", "event:e1", {"n": 1})
        t = threading.Thread(target=second)
        t.start()
        if db.dialect.name == "postgresql":  # it reaches the row this transaction holds, and waits
            wait_for(lambda: _waiting_on_a_lock(db), what="the second record to wait on the first")
    t.join(10)
    assert not t.is_alive() and errors == []
    assert refs.get(db, "test", "event:e1") == {"n": 2}


def _waiting_on_a_lock(db: Engine) -> bool:
    with db.connect() as conn:
        q = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return bool(conn.execute(text(q)).scalar())
