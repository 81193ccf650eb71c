"""The inbox's retention and the one-refusal-per-stranger limiter."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.refusals import Refusals
from bot.retention import InboxRetention
from memory import inbox
from memory.tables import InboxItem, utcnow


def test_finished_rows_older_than_the_retention_are_pruned_and_unfinished_ones_kept(app_factory):
    app = app_factory()
    for key, status in (("done", "done"), ("failed", "failed"), ("open", None)):
        assert inbox.record(app.db, delivery_id=key, channel="slack", conversation="c", actor="a", text="")
        if status:
            inbox.finish(app.db, key, status)
    retention = InboxRetention(app.db, retention_s=3600)
    # Now, nothing is past the retention; an hour and a minute later, the finished rows are.
    assert retention.prune() == 0
    assert retention.prune(now=utcnow() + timedelta(hours=1, minutes=1)) == 2
    with Session(app.db) as s:
        assert [i.delivery_id for i in s.exec(select(InboxItem)).all()] == ["open"]
    health = retention.health()
    assert health["pruned"] == 2 and health["retention_s"] == 3600 and health["last_pruned_at"]


def test_a_stranger_is_refused_once_per_period():
    now = [0.0]
    refusals = Refusals(period_s=60, clock=lambda: now[0], max_actors=2)
    assert refusals.allow("slack:U1")
    assert not refusals.allow("slack:U1")
    assert refusals.allow("slack:U2")
    now[0] = 61
    assert refusals.allow("slack:U1")
    assert refusals.suppressed == 1
    # Past max_actors, the one refused longest ago is forgotten (memory stays bounded).
    assert refusals.allow("slack:U3")
    assert len(refusals._last) == 2  # noqa: SLF001
