"""Tasks: due dates as typed, done/reopen/delete with Undo, the order of `tasks`, and the reminder job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from agents.dates import DateError, due_text, parse_due
from bot.console import ConsoleSession
from memory.job_tables import Job
from memory.tables import Task
from tests.fakes.outbound import RecordingOutbound
from tests.fakes.server import wait_for

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # a Friday, 11:00 in Berlin


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "due", "all_day", "rest"),
    [
        ("call Priya tomorrow", local(2026, 12, 5), True, "call Priya"),
        ("call Priya friday", local(2026, 12, 4), True, "call Priya"),
        ("call Priya on monday", local(2026, 12, 7), True, "call Priya"),
        ("call Priya day after tomorrow", local(2026, 12, 6), True, "call Priya"),
        ("call Priya the day after tomorrow at 3pm", local(2026, 12, 6, 15), False, "call Priya"),
        ("renew the domain in 3 days", local(2026, 12, 7), True, "renew the domain"),
        ("file taxes in a week", local(2026, 12, 11), True, "file taxes"),
        ("call Priya next fri", local(2026, 12, 11), True, "call Priya"),
        ("renew domain on 2026-12-10", local(2026, 12, 10), True, "renew domain"),
        ("send deck friday 3pm", local(2026, 12, 4, 15), False, "send deck"),
        ("send deck by mon at 9:30am", local(2026, 12, 7, 9, 30), False, "send deck"),
        ("ring Sam at 15:00 tomorrow", local(2026, 12, 5, 15), False, "ring Sam"),
        ("tomorrow: pay rent", local(2026, 12, 5), True, "pay rent"),
        ("call Sam", None, False, "call Sam"),
        ("friday", None, False, "friday"),  # the whole text is the task
        ("email friends", None, False, "email friends"),
    ],
)
def test_due_dates_as_people_type_them(text, due, all_day, rest):
    assert parse_due(text, NOW, BERLIN) == (due, all_day, rest)


@pytest.mark.parametrize(
    ("text", "why"),
    [("pay on 2026-02-30", "'2026-02-30' is not a date"), ("call tomorrow 25:00", "'25:00' is not a time")],
)
def test_dates_that_are_not_dates_are_refused(text, why):
    with pytest.raises(DateError, match=why):
        parse_due(text, NOW, BERLIN)


def test_due_text_says_overdue_today_tomorrow():
    assert due_text(local(2026, 12, 1), True, NOW, BERLIN) == "overdue since Tue 1 Dec"
    assert due_text(local(2026, 12, 4), True, NOW, BERLIN) == "due today"
    assert due_text(local(2026, 12, 4, 10), False, NOW, BERLIN) == "overdue since today 10:00"
    assert due_text(local(2026, 12, 5, 9, 30), False, NOW, BERLIN) == "due tomorrow 09:30"
    assert due_text(local(2027, 1, 8), True, NOW, BERLIN) == "due Fri 8 Jan 2027"


def said(chat: ConsoleSession, line: str) -> list[str]:
    return [r.card.title if r.card else r.text for r in chat.send(line)]


def jobs_of(app) -> list[Job]:
    with Session(app.db) as s:
        return list(s.exec(select(Job).where(Job.kind == "tasks.remind").order_by(col(Job.created_at))).all())


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_done_reopen_delete_each_asks_and_can_be_undone_and_the_reminder_follows(app_factory):
    app = app_factory(settings={"coo_timezone": "Europe/Berlin"})
    chat = ConsoleSession(app)
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    # Given a task due tomorrow: its reminder is queued for 09:00 that day, in this conversation
    assert said(chat, "task call Priya tomorrow") == ["Approve? Add a task: call Priya, due tomorrow"]
    done = said(chat, "a")[-1]
    assert (
        done
        == f"Done: Added task #1: call Priya, due tomorrow; I will remind you here at 09:00 on {tomorrow:%a} {tomorrow.day} {tomorrow:%b}."
    )
    [job] = jobs_of(app)
    assert job.status == "queued" and job.conversation == chat.conversation
    assert job.run_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=BERLIN)
    # When it is finished (the mistake `task 1 done` means that), its reminder is cancelled
    assert said(chat, "task 1 done") == ["Approve? Mark task #1 done"]
    assert said(chat, "a")[-1] == "Done: Finished task #1: call Priya."
    assert [j.status for j in jobs_of(app)] == ["cancelled"]
    assert said(chat, "tasks") == ["No open tasks."]
    # Undo reopens it and queues a new reminder for the same time
    assert said(chat, "undo") == ["Undone: Reopened task #1: call Priya."]
    assert [(j.status, j.run_at) for j in jobs_of(app)] == [("cancelled", job.run_at), ("queued", job.run_at)]
    # done / complete / finish are one command; a finished task cannot be finished twice
    said(chat, "complete 1")
    said(chat, "a")
    assert said(chat, "finish #1") == [
        "Cannot mark task #1 done: task #1 is done already, so there is nothing to finish."
        " Nothing was asked or changed."
    ]
    assert said(chat, "reopen 1") == ["Approve? Reopen task #1"]
    assert said(chat, "a")[-1] == "Done: Reopened task #1: call Priya."
    assert said(chat, "undo") == ["Undone: Marked done again task #1: call Priya."]
    # Delete, and its undo
    said(chat, "task buy ink")
    said(chat, "a")
    assert said(chat, "delete 2") == ["Approve? Delete task #2"]
    assert said(chat, "a")[-1] == "Done: Deleted task #2: buy ink."
    assert said(chat, "tasks") == ["No open tasks."]
    assert said(chat, "undo") == ["Undone: Reopened task #2: buy ink."]
    assert said(chat, "tasks") == ["Open tasks:\n#2 buy ink"]
    # A number that is no task is refused before any card
    assert said(chat, "done 9") == [
        "Cannot mark task #9 done: there is no task #9. Nothing was asked or changed."
    ]
    # Undo of the add cancels the task
    said(chat, "task water plants")
    said(chat, "a")
    assert said(chat, "undo") == ["Undone: Cancelled task #3: water plants."]
    with Session(app.db) as s:
        assert {t.id: t.status for t in s.exec(select(Task)).all()} == {1: "done", 2: "open", 3: "cancelled"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tasks_show_overdue_then_due_today_then_later_then_undated(app_factory):
    app = app_factory(settings={"coo_timezone": "Europe/Berlin"})
    chat = ConsoleSession(app)
    today = datetime.now(BERLIN).date()
    for line in (
        "task buy ink",
        f"task pay rent on {today - timedelta(days=3)}",
        "task call Priya tomorrow",
        "task send deck today 23:59",
    ):
        said(chat, line)
        said(chat, "a")
    [listing] = said(chat, "tasks")
    rows = listing.splitlines()
    assert rows[0] == "Open tasks:"
    assert rows[1].startswith("#2 pay rent — overdue since ")
    assert rows[2] == "#4 send deck — due today 23:59"
    assert rows[3] == "#3 call Priya — due tomorrow"
    assert rows[4] == "#1 buy ink"


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_reminder_is_posted_to_the_conversation_the_task_came_from(app_factory):
    app = app_factory(settings={"coo_operators": ["test:U1"]})
    out = RecordingOutbound()
    app.notifier.register("test", out)
    chat = ConsoleSession(app, conversation="test:C1")
    said(chat, "task call Priya tomorrow")
    said(chat, "a")
    [job] = jobs_of(app)
    # When its time comes (moved to now rather than waiting a day)
    with Session(app.db) as s:
        s.execute(update(Job).where(col(Job.id) == job.id).values(run_at=datetime.now(UTC)))
        s.commit()
    app.start_workers()
    # Then the reminder is a new message in that conversation
    wait_for(lambda: any(t.startswith("Reminder: ") for t in out.texts()), what="the reminder")
    assert (
        out.texts()[-1] == "Reminder: task #1 call Priya (due tomorrow). Type `done 1` when it is finished."
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_digest_counts_and_lists_due_and_overdue_tasks_first(app_factory):
    from bot.digest import DigestSources, collect, facts_text, render

    app = app_factory(settings={"coo_timezone": "Europe/Berlin"})
    chat = ConsoleSession(app)
    today = datetime.now(BERLIN).date()
    for line in ("task buy ink", f"task pay rent on {today - timedelta(days=2)}", "task call Priya today"):
        said(chat, line)
        said(chat, "a")
    d = collect(
        DigestSources(db=app.db, approvals=app.approvals, ledger=app.ledger, tz=BERLIN),
        today,
        datetime.now(UTC),
    )
    body = render(d, None)
    lines = body.split("Open tasks: ", 1)[1].splitlines()
    assert lines[0] == "3, 2 due or overdue"
    assert lines[1].startswith("  • #2 pay rent — overdue since ")
    assert lines[2] == "  • #3 call Priya — due today"
    assert lines[3] == "  • #1 buy ink"
    facts = facts_text(d)
    assert "Task pay rent — overdue since " in facts and "Task call Priya — due today" in facts
