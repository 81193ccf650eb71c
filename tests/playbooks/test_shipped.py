"""The shipped playbooks, driven from chat: overdue invoices on one card, month end, and the digest unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.app import App
from bot.commands import command
from bot.digest import DIGEST_KIND, build_digest
from bot.playbooks import digest_sources, service
from memory import playbooks as store
from memory.invoices import Invoice
from memory.job_tables import Job
from memory.knowledge.tables import KnowledgeItem
from memory.playbook_tables import PlaybookRun
from memory.tables import Approval, Event
from memory.workspace import Customer
from tests.fakes.smtp_server import smtp_server
from tests.playbooks.conftest import CONSOLE

CONV = "console:t"


@pytest.fixture
def app(make_app: Callable[..., App]) -> Iterator[App]:
    """An App that can send email (a loopback SMTP server), with an undo window longer than the test."""
    with smtp_server() as (_sink, url):
        yield make_app(settings={"smtp_url": url, "coo_email_from": "coo@example.com", "coo_undo_window_s": 600})


def say(app: App, text: str) -> str:
    replies = command(app, CONV, CONSOLE, text)
    assert replies is not None, text
    return "\n".join(r.text for r in replies)


def _invoices(app: App, n: int, *, overdue: bool = True) -> None:
    today = datetime.now(UTC).date()
    with Session(app.db) as s:
        for i in range(1, n + 1):
            c = Customer(name=f"Customer {i}", email=f"c{i}@example.org")
            s.add(c)
            s.flush()
            s.add(Invoice(number=f"INV-2026-{i:04d}", year=2026, seq=i, customer=c.name, customer_id=c.id,
                          amount_cents=100_00 * i, issued_on=today - timedelta(days=40),
                          due_on=today - timedelta(days=10 if overdue else -10), idempotency_key=f"k{i}"))
        s.commit()


def _emails(app: App) -> list[dict[str, Any]]:
    with Session(app.db) as s:
        rows = s.exec(select(Event).where(Event.kind == "effect", Event.action == "outreach.send_email")).all()
        return [e.payload["arguments"] for e in rows]


def _run_id(text: str) -> str:
    return text.split("playbook approve ", 1)[1].split("`", 1)[0]


def test_overdue_invoices_ask_once_for_the_batch_and_each_draft_is_removable(app: App) -> None:
    _invoices(app, 3)
    card = say(app, "playbook run overdue-invoices")
    assert card.count("\n  ") == 3 and "3 action(s) wait for your approval, on this one card" in card
    assert "1. Send an email to c1@example.org: 'Reminder: invoice INV-2026-0001 is overdue'" in card
    with Session(app.db) as s:
        assert len(s.exec(select(Approval).where(Approval.status == "pending")).all()) == 3
    assert _emails(app) == []
    done = say(app, f"playbook approve {_run_id(card)} without 2")
    sent = sorted(e["to"] for e in _emails(app))
    assert sent == ["c1@example.org", "c3@example.org"]
    assert "Overdue invoices: 3 found; 2 reminder(s) sent" in done and "1 left out" in done
    assert "Done:" in done  # each email's own message, with its Undo while the window is open
    assert "last done" in say(app, "playbooks")


def test_month_end_tells_the_summary_and_the_open_invoices(app: App) -> None:
    _invoices(app, 2, overdue=False)
    text = say(app, "playbook run month-end")
    prev = (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert f"Month end: Summary {prev}:" in text
    assert "Still open: 2 invoice(s)" in text and "INV-2026-0002 Customer 2" in text


def test_the_digest_playbook_says_exactly_what_the_digest_job_says(app: App) -> None:
    _invoices(app, 1)
    say(app, "playbook run overdue-invoices")  # something waits, so the digest has a card to count
    assert say(app, "playbook run daily-digest") == "Playbook daily-digest finished."
    # The playbook queues the very job `/digest` runs, here to the conversation it was asked in.
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == DIGEST_KIND)).all()
    assert job.conversation == CONV
    assert app.jobs.runner.run(job.id) == "done"
    done = app.jobs.get(job.id)
    assert done is not None and done.result is not None
    text = str(done.result["text"])
    now = datetime.now(UTC)
    expected = build_digest(digest_sources(app), now.astimezone(ZoneInfo("UTC")).date(), now,
                            run_id="job_compare", destination="").text
    assert text.startswith("Daily digest for") and "Waiting for your decision: 1" in text
    assert text == expected


def test_pause_resume_and_a_stranger(app: App) -> None:
    assert say(app, "playbook pause month-end") == "Playbook month-end is paused."
    assert "month-end v1: paused" in say(app, "playbooks")
    assert say(app, "playbook resume month-end") == "Playbook month-end is running again."
    assert "month-end v1: next " in say(app, "playbooks")
    replies = command(app, "slack:C1", "slack:UEVIL", "playbook run month-end")
    assert replies is not None and "Only an operator" in replies[0].text


def test_pasted_yaml_becomes_a_card_with_the_diff_and_approving_stores_a_new_version(app: App) -> None:
    service(app)  # the shipped playbooks are stored
    new = say(app, "playbook show month-end").split("\n", 1)[1].replace("0 9 1 * *", "0 7 1 * *")
    outs = app.engine.submit(app.request("console", CONV, CONSOLE, new))
    [ask] = [x for x in outs if hasattr(x, "approval_id")]
    assert ask.action.name == "playbooks.save"  # type: ignore[attr-defined]
    assert '-trigger: {cron: "0 9 1 * *"}' in ask.action.changes and '+trigger: {cron: "0 7 1 * *"}' in ask.action.changes  # type: ignore[attr-defined]
    decided = app.engine.decide(ask.approval_id, True, CONSOLE)  # type: ignore[attr-defined]
    assert "month-end v2" in say(app, "playbooks")
    assert "0 7 1 * *" in say(app, "playbook show month-end")
    with Session(app.db) as s:  # indexed in knowledge, as a playbook
        [item] = s.exec(select(KnowledgeItem).where(KnowledgeItem.kind == "playbook")).all()
    assert item.text.startswith("Playbook month-end: On the 1st") and "cron 0 7 1 * *" in item.text
    [undo] = [x.undo_event for x in decided if getattr(x, "undo_event", None)]  # type: ignore[attr-defined]
    app.engine.undo(undo, CONSOLE, lambda _a: True)  # Undo takes the version back: v1 is current again
    assert "month-end v1" in say(app, "playbooks") and "0 9 1 * *" in say(app, "playbook show month-end")
    bad = app.engine.submit(app.request("console", CONV, CONSOLE, "name: broken\nsteps:\n  - id: a\n    op: nope\n"))
    words = "\n".join(getattr(x, "text", "") for x in bad)
    assert "line 1" in words and "trigger" in words


def test_a_claimed_slot_runs_as_a_job(app: App) -> None:
    pbs = service(app)
    run_id = pbs.scheduler.claim("month-end", 1, "2026-12-01T09:00Z")
    assert run_id is not None and pbs.scheduler.claim("month-end", 1, "2026-12-01T09:00Z") is None
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "playbook.run")).all()
    app.jobs.runner.run(job.id)
    with Session(app.db) as s:
        job = s.get(Job, job.id)
        assert job is not None and job.status == "done"
        row = s.get(PlaybookRun, run_id)
    assert row is not None and row.status == "done" and row.text.startswith("Month end: Summary")


def test_an_inbound_hook_starts_its_playbooks_once_and_untrusted(app: App) -> None:
    pbs = service(app)
    store.save(app.db, "on-paid", 'name: on-paid\ntrigger: {hook: stripe}\nsteps:\n  - id: t\n    op: tasks.add_task\n'
               '    args: {text: "check payment {{ trigger.payload }}"}\n', by="test")
    assert pbs.fire_hook("other", "d0", "{}") == []
    [run_id] = pbs.fire_hook("stripe", "d1", '{"id": "evt_1"}')
    assert pbs.fire_hook("stripe", "d1", '{"id": "evt_1"}') == []  # the same delivery again: no second run
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "playbook.run")).all()
    app.jobs.runner.run(job.id)
    with Session(app.db) as s:
        row = s.get(PlaybookRun, run_id)
        [ap] = s.exec(select(Approval)).all()
    assert row is not None and row.status == "waiting"  # a card, labelled: it came from outside
    assert ap.action["untrusted_source"] is True
