"""A digest covers everything since the previous digest to its destination (the first: the last 24 hours)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.console import ConsoleSession
from memory import digests
from memory.db import transaction
from memory.job_tables import DigestWindow
from memory.tables import Event, utcnow
from tests.agents.chat import done
from tests.bot.test_digest import run_digest_job, tomorrow
from tests.fakes.outbound import RecordingOutbound


def _text(job) -> str:
    return str(job.result["text"])


def test_nothing_falls_between_two_digests_and_nothing_is_counted_twice(app_factory):
    app = app_factory()
    app.notifier.register("test", RecordingOutbound())
    chat = ConsoleSession(app)
    # Given a day's work, one action of which is older than a day,
    with transaction(app.db) as s:  # recorded 30 hours ago
        s.add(
            Event(
                run_id="run_old",
                conversation="console:local",
                kind="effect",
                action="bookkeeping.record_expense",
                payload={"text": "Recorded expense: $3.00 stamps"},
                actor="console:local",
                idempotency_key="old-stamps",
                at=utcnow() - timedelta(hours=30),
            )
        )
    done(chat, "expense 12.50 coffee with Dana")
    # the first digest to a destination covers the last 24 hours (today's work, not older),
    first = _text(run_digest_job(app, tomorrow(), "test:A"))
    assert "Done in the last 24 hours: 1 action(s)" in first, first
    assert "coffee with Dana" in first and "stamps" not in first
    # the next one to the same destination covers only what came after it,
    assert "Done since the last digest: nothing." in _text(run_digest_job(app, tomorrow(), "test:A"))
    done(chat, "expense 40 train")
    third = _text(run_digest_job(app, tomorrow(), "test:A"))
    assert "Done since the last digest: 1 action(s)" in third
    assert "train" in third and "coffee" not in third
    # and another destination has its own first digest.
    other = _text(run_digest_job(app, tomorrow(), "test:B"))
    assert "Done in the last 24 hours: 2 action(s)" in other and "stamps" not in other
    # The windows of one destination tile time exactly: each starts where the one before ended.
    with Session(app.db) as s:
        spans = s.exec(
            select(DigestWindow).where(DigestWindow.destination == "test:A").order_by(DigestWindow.since)
        ).all()
    assert len(spans) == 3
    assert all(a.until == b.since for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_retried_digest_job_reads_the_same_window(app_factory):
    app = app_factory()
    now = utcnow()
    w1 = digests.window(app.db, job_id="job_x", destination="test:A", now=now)
    w2 = digests.window(app.db, job_id="job_x", destination="test:A", now=now + timedelta(minutes=5))
    assert (w1.since, w1.until) == (w2.since, w2.until) and w1.first
    assert w1.until - w1.since == timedelta(hours=24)
    # A digest whose job never finished (never delivered) is not "the last one": the next starts before it.
    w3 = digests.window(app.db, job_id="job_y", destination="test:A", now=now + timedelta(hours=1))
    assert w3.since == now + timedelta(hours=1) - timedelta(hours=24) and w3.first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_that_failed_in_the_window_is_reported_though_it_was_asked_before(app_factory):
    from bot.digest import collect_failures
    from memory.tables import Run

    app = app_factory()
    now = utcnow()
    with transaction(app.db) as s:  # asked two days ago, approved and failed an hour ago
        s.add(
            Run(
                id="run_late",
                conversation="c",
                channel="console",
                actor="a",
                input="paid INV-2026-0001",
                status="failed",
                error="Could not mark INV-2026-0001 paid",
                created_at=now - timedelta(days=2),
                finished_at=now - timedelta(hours=1),
            )
        )
    [line] = collect_failures(app.db, now - timedelta(hours=24), now, now)
    assert line.startswith("Run run_late failed (Could not mark INV-2026-0001 paid)")
    assert collect_failures(app.db, now - timedelta(days=3), now - timedelta(hours=24), now) == []
