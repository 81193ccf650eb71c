"""The undo window for outbound email, end to end: a loopback SMTP server, real smtplib, real Dramatiq
workers, the dispatcher posting into a recording channel. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlmodel import Session, select

from bot.console import ConsoleSession
from bot.dispatch import Click, Dispatcher
from memory.job_tables import Job
from memory.tables import Event, utcnow
from tests.fakes.jobs import runner_after
from tests.fakes.outbound import RecordingOutbound
from tests.fakes.server import wait_for
from tests.fakes.smtp_server import smtp_server

OPS = ["test:U1"]
ASK = "email dana@example.org Invoice 42: Please find the invoice attached."


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


def email_app(app_factory, url: str, window_s: float):
    return app_factory(
        settings={
            "coo_operators": OPS,
            "smtp_url": url,
            "coo_email_from": "coo@example.com",
            "coo_undo_window_s": window_s,
        }
    )


async def approve_email(app, out: RecordingOutbound) -> tuple[Dispatcher, str]:
    """Ask for the email, check the card, approve it; return the dispatcher and the Done message's event id."""
    d = Dispatcher(app, "test", out)
    await d.accept(delivery_id="e1", conversation="test:C1", actor="test:U1", text=ASK)
    await d.drain()
    card = out.sent[0][1].card
    fields = dict(card.fields)
    assert fields["Action"] == "outreach.send_email"
    assert fields["Reversible"] == "NO - this cannot be undone"
    assert "Undo cancels it until then, never after" in fields["Will change"]
    assert await d.click(Click("k1", "test:C1", "test:U1", "approve", card.buttons[0].value)) == []
    done = out.sent[-1][1]
    assert done.text.startswith("Done: Email to dana@example.org scheduled: sending at ")
    assert done.text.endswith("— Undo until then.")
    assert [b.action for b in done.buttons] == ["undo"]
    return d, done.buttons[0].value


def send_job(app) -> Job:
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "outreach.send_email")).all()
    return job


def events(app) -> list[str]:
    with Session(app.db) as s:
        rows = s.exec(select(Event).order_by(Event.seq)).all()
    return [e.kind for e in rows if e.kind in ("effect", "compensation")]


async def test_undo_inside_the_window_cancels_the_send(app_factory, smtp):
    sink, url = smtp
    app = email_app(app_factory, url, window_s=60)
    out = RecordingOutbound()
    app.notifier.register("test", out)
    await asyncio.to_thread(app.start_workers)
    d, event_id = await approve_email(app, out)
    done_ref = len(out.sent)

    # Undo within the window: the Done message becomes "Undone", the job is cancelled, nothing is sent.
    assert await d.click(Click("k2", "test:C1", "test:U1", "undo", event_id)) == []
    assert out.edits_of(done_ref)[-1] == "Undone: Cancelled the email to dana@example.org; it was not sent."
    job = send_job(app)
    assert job.status == "cancelled"
    assert events(app) == ["effect", "compensation"]
    # When its time comes (a runner whose clock is past the window), the send does not happen.
    later = runner_after(app, 61)
    assert later.run(job.id) == "skipped"
    assert sink.messages == [] and sink.rcpts == 0
    [again] = await d.click(Click("k3", "test:C1", "test:U1", "undo", event_id))
    assert again.text.startswith("Already undone")


async def test_after_the_window_it_is_sent_once_and_undo_is_too_late(app_factory, smtp):
    sink, url = smtp
    app = email_app(app_factory, url, window_s=1.0)
    out = RecordingOutbound()
    app.notifier.register("test", out)
    await asyncio.to_thread(app.start_workers)
    d, event_id = await approve_email(app, out)
    done_ref = len(out.sent)

    await asyncio.to_thread(wait_for, lambda: send_job(app).status == "done", what="email sent")
    # The Done message now says it was sent and can no longer be undone (edited in place, no button).
    await asyncio.to_thread(
        wait_for,
        lambda: out.edits_of(done_ref)[-1:] and "can no longer be undone" in out.edits_of(done_ref)[-1],
    )
    last = [r for ref, r in out.updated if ref == {"n": done_ref}][-1]
    assert last.text.startswith("Sent the email to dana@example.org at ") and last.buttons == []
    [msg] = sink.messages
    job = send_job(app)
    assert msg["Message-ID"] == f"<{job.key}@example.com>"
    assert (msg["To"], msg["Subject"]) == ("dana@example.org", "Invoice 42")

    # Undo after the window: a clear refusal to the clicker, and nothing changes.
    [late] = await d.click(Click("k4", "test:C1", "test:U1", "undo", event_id))
    assert late.text.startswith("Too late: the email to dana@example.org was sent at ")
    assert late.text.endswith("; it can no longer be undone.")
    assert events(app) == ["effect"] and len(sink.messages) == 1 and send_job(app).status == "done"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_window_closed_before_the_worker_took_it_is_too_late_too(app_factory, smtp):
    sink, url = smtp
    app = email_app(app_factory, url, window_s=0.2)
    chat = ConsoleSession(app)
    chat.send(ASK)
    _, done = chat.send("approve")
    assert done.buttons[0].action == "undo"
    send_at = datetime.fromisoformat(send_job(app).run_at.isoformat())
    wait_for(lambda: utcnow() > send_at, what="the window to close")
    [late] = chat.send("undo")
    assert late.text.startswith("Too late: the undo window closed at ")
    assert late.text.endswith("the email to dana@example.org is being sent.")
    assert send_job(app).status == "queued"
    app.start_workers()  # no worker ran until now: it goes out once, now
    wait_for(lambda: len(sink.messages) == 1 and send_job(app).status == "done", what="sent")
    assert events(app) == ["effect"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_email_without_a_mail_server_is_refused_before_the_card_and_schedules_nothing(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    [refused] = chat.send(ASK)
    assert refused.card is None and refused.text == (
        "Cannot send an email to dana@example.org: 'Invoice 42': "
        "email is not set up (set SMTP_URL and COO_EMAIL_FROM, then restart). Nothing was asked or changed."
    )
    assert chat.send("approve")[0].text == "There is nothing waiting for approval."
    with Session(app.db) as s:
        assert s.exec(select(Job)).all() == []
