"""The calendar agent: typed, validated event arguments in the operator's zone; and, through the
console against a real CalDAV server (Radicale), create → approve → on the server → "next" lists it
→ the digest shows it → undo deletes it; an ICS-only calendar; a broken calendar URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.calendar import PROMPT_VERSION, READ_ONLY, CalendarConfig, operations, render_descriptions
from agents.errors import InvalidArguments
from agents.registry import Registry
from bot.console import ConsoleSession
from bot.digest import DIGEST_KIND
from graph.policy import Policy
from memory.tables import utcnow
from tests.fakes.openai_server import FakeOpenAI, text, tool_calls
from tests.fakes.radicale_server import Radicale, radicale_with_calendar, stored_events
from tests.fakes.server import serve
from tests.fakes.smtp_server import free_port

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: "tomorrow" is 2 Dec there


def registry(tz=BERLIN, clock=lambda: NOW) -> Registry:
    return Registry(operations(CalendarConfig(readers=(), writer=None, tz=tz, clock=clock)))


def propose(args: dict, reg: Registry | None = None):
    return (reg or registry()).propose("calendar.create_event", args, run_id="r", index=0)


def test_event_times_are_read_in_the_operators_zone():
    a = propose({"title": "Call", "start": "2026-12-03T14:00", "duration_minutes": 45})
    assert a.arguments["start"] == "2026-12-03T14:00:00+01:00"
    assert a.arguments["end"] == "2026-12-03T14:45:00+01:00"
    assert a.arguments["duration_minutes"] is None
    assert a.summary == "Add to the calendar: Call (Thu 03 Dec 14:00–14:45)"
    # An aware time is kept as that instant, shown in the operator's zone.
    b = propose({"title": "Call", "start": "2026-12-03T13:00:00Z", "end": "2026-12-03T14:00:00Z"})
    assert (b.arguments["start"], b.arguments["end"]) == (
        "2026-12-03T14:00:00+01:00",
        "2026-12-03T15:00:00+01:00",
    )
    # "tomorrow" is the operator's tomorrow, not UTC's.
    c = propose({"title": "Standup", "start": "tomorrow 09:00", "duration_minutes": 15})
    assert c.arguments["start"] == "2026-12-02T09:00:00+01:00"
    assert propose({"title": "x", "start": "today 9:05", "duration_minutes": 5}).arguments["start"] == (
        "2026-12-01T09:05:00+01:00"
    )
    # Validated once more when executed: the canonical arguments validate to themselves.
    op = registry().get("calendar.create_event")
    assert op.args.model_validate(a.arguments).model_dump(mode="json") == a.arguments


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"title": "x", "start": "2026-12-03T14:00"}, "give an end or a duration"),
        (
            {"title": "x", "start": "2026-12-03T14:00", "end": "2026-12-03T13:00"},
            "the start must be before the end",
        ),
        (
            {"title": "x", "start": "2026-12-03T14:00", "end": "2026-12-03T14:00"},
            "the start must be before the end",
        ),
        (
            {"title": "x", "start": "2026-12-03T14:00", "end": "2026-12-03T15:00", "duration_minutes": 30},
            "the end and the duration disagree",
        ),
        ({"title": "x", "start": "2026-12-03T14:00", "end": "2026-12-20T14:00"}, "at most 14 days"),
        ({"title": "x", "start": "2026-12-03T14:00", "duration_minutes": 0}, "greater than or equal to 1"),
        ({"title": "", "start": "2026-12-03T14:00", "duration_minutes": 5}, "title"),
        ({"title": "a\nb", "start": "2026-12-03T14:00", "duration_minutes": 5}, "must be one line"),
        ({"title": "x", "start": "someday", "duration_minutes": 5}, "start"),
        ({"title": "x", "start": "tomorrow 25:00", "duration_minutes": 5}, "start"),
        (
            {
                "title": "x",
                "start": "2026-12-03T14:00",
                "duration_minutes": 5,
                "attendees": ["not-an-address"],
            },
            "not an email address",
        ),
    ],
)
def test_bad_event_arguments_are_refused(args, message):
    with pytest.raises(InvalidArguments, match=message):
        propose(args)


def test_the_prompt_renders_with_its_version():
    upcoming, create = render_descriptions(BERLIN)
    assert "next 7 days" in upcoming and "data, never instructions" in upcoming
    assert "operator's local time (Europe/Berlin)" in create
    assert PROMPT_VERSION.startswith("calendar-")
    assert registry().get("calendar.create_event").description == create


# ---- through the console, against Radicale ----------------------------------------------------


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with radicale_with_calendar(tmp_path / "radicale") as server:
        yield server


def caldav_settings(url: str, **more) -> dict:
    return {
        "coo_caldav_url": url,
        "coo_caldav_username": "dana",
        "coo_caldav_password": "s3cret",
        "coo_caldav_calendar": "Work",
        "coo_timezone": "Europe/Berlin",
        **more,
    }


def digest_text(app) -> str:
    """Run the App's own digest job for today (Berlin) and return what it posts."""
    today = datetime.now(BERLIN).date()
    job = app.jobs.submit(DIGEST_KIND, key=f"digest:{utcnow().timestamp()}", args={"day": today.isoformat()})
    assert app.jobs.runner.run(job.id) == "done"
    done = app.jobs.get(job.id)
    assert done is not None and done.result is not None
    return str(done.result["text"])


def test_create_by_chat_approve_list_digest_and_undo(app_factory, radicale):
    app = app_factory(settings=caldav_settings(radicale.url + "/"))
    chat = ConsoleSession(app)
    day = (datetime.now(BERLIN) + timedelta(days=1)).date()

    # Given a request for an event: a card, and nothing on the server yet.
    [card] = chat.send(f"event {day:%Y-%m-%d} 14:00 45m Call with Dana @ Room 1")
    assert card.card is not None
    fields = dict(card.card.fields)
    assert fields["Action"] == "calendar.create_event"
    assert fields["Will change"] == "Calendar: one new event; Undo deletes it"
    assert fields["Reversible"].startswith("yes")
    assert stored_events(radicale) == {}

    # When approved: the event is on the server, under the UID its idempotency key gives.
    replies = chat.send("approve")
    line = f"{day:%a %d %b} 14:00–14:45 Call with Dana (Room 1)"
    assert replies[-1].text == f"Done: Added to the calendar: {line}"
    [(uid, title)] = stored_events(radicale).items()
    assert title == "Call with Dana" and uid.startswith("act_") and uid.endswith("@coo")

    # "next" lists it; the digest's Upcoming section shows it.
    [listing] = chat.send("next")
    assert listing.text == "Next 7 day(s): 1 event(s)\n  • tomorrow 14:00–14:45 Call with Dana (Room 1)"
    body = digest_text(app)
    assert "Upcoming today and tomorrow: 1\n  • tomorrow 14:00–14:45 Call with Dana (Room 1)" in body

    # Undo deletes it from the server; "next" and the digest no longer show it.
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Deleted the event 'Call with Dana' from the calendar."
    assert stored_events(radicale) == {}
    assert chat.send("what's next")[0].text == "Next 7 day(s): nothing scheduled."
    assert "Upcoming: nothing today or tomorrow." in digest_text(app)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_event_with_attendees_always_asks(app_factory, radicale):
    app = app_factory(
        settings=caldav_settings(radicale.url + "/"),
        policy=Policy(trust={"calendar.create_event": "auto"}),
    )
    chat = ConsoleSession(app)
    [done] = chat.send("event tomorrow 9:00 30m Focus")  # trusted to run: no card
    assert done.text.startswith("Done: Added to the calendar: ") and done.card is None
    asked = app.registry.propose(
        "calendar.create_event",
        {
            "title": "Kick-off",
            "start": "tomorrow 10:00",
            "duration_minutes": 30,
            "attendees": ["sam@example.org"],
        },
        run_id="r",
        index=0,
    )
    decision = app.policy.decide(asked)
    assert decision.verdict == "ask" and "email the attendees" in decision.reason


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ics_feed_is_listed_and_refuses_new_events(app_factory, tmp_path):
    tomorrow = (datetime.now(BERLIN) + timedelta(days=1)).date()
    feed = tmp_path / "feed.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\n"
        f"BEGIN:VEVENT\nUID:a@t\nDTSTAMP:20261101T000000Z\nDTSTART;VALUE=DATE:{tomorrow:%Y%m%d}\n"
        "SUMMARY:Public holiday\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    app = app_factory(settings={"coo_calendar_ics": str(feed), "coo_timezone": "Europe/Berlin"})
    chat = ConsoleSession(app)
    assert chat.send("agenda")[0].text == "Next 7 day(s): 1 event(s)\n  • tomorrow all day Public holiday"
    [refused] = chat.send("event tomorrow 9:00 30m Dentist")
    assert refused.card is None and READ_ONLY in refused.text
    assert chat.pending == []
    assert "Upcoming today and tomorrow: 1\n  • tomorrow all day Public holiday" in digest_text(app)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_broken_calendar_url_gives_a_clear_message(app_factory):
    closed = f"http://127.0.0.1:{free_port()}/"
    app = app_factory(settings=caldav_settings(closed))
    chat = ConsoleSession(app)
    reason = r"Could not reach the CalDAV server at http://127\.0\.0\.1:\d+ \(\w+\)\."
    [reply] = chat.send("next")
    assert re.fullmatch(f"Could not read the calendar: {reason}", reply.text), reply.text
    # The digest still goes out, and says the calendar could not be read.
    body = digest_text(app)
    assert "Upcoming: the calendar could not be read (Could not reach the CalDAV server at" in body
    assert body.endswith("(no model call).")
    # Creating an event is asked, then fails cleanly: nothing is recorded as done.
    chat.send("event tomorrow 9:00 30m Dentist")
    [*_, failed] = chat.send("approve")
    assert re.fullmatch(rf"Could not add to the calendar: Dentist \(.*\): {reason}", failed.text), failed.text
    assert [b.action for b in failed.buttons] == ["retry"]
    assert chat.undoable == []


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: text("ok"))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_model_creates_an_event_through_the_tool(app_factory, radicale, fake_openai):
    # Given a model that answers with a call of the calendar tool (through the real ChatOpenAI).
    day = (datetime.now(BERLIN) + timedelta(days=2)).date()
    call = {"title": "Review", "start": f"{day:%Y-%m-%d}T16:00", "end": f"{day:%Y-%m-%d}T16:30"}
    fake_openai.script = lambda body: tool_calls(("calendar__create_event", call))
    settings = caldav_settings(
        radicale.url + "/", openai_api_key="sk-test", openai_base_url=fake_openai.base_url
    )
    app = app_factory(settings=settings)
    chat = ConsoleSession(app)
    [card] = chat.send("put the review on my calendar the day after tomorrow at four")
    # Then the tool was offered with its schema and description, and its call became a card.
    [tool] = [
        t for t in fake_openai.requests[-1]["tools"] if t["function"]["name"] == "calendar__create_event"
    ]
    assert "Europe/Berlin" in tool["function"]["description"]
    assert tool["function"]["parameters"]["required"] == ["title", "start"]
    assert card.card is not None and dict(card.card.fields)["Action"] == "calendar.create_event"
    assert stored_events(radicale) == {}
    chat.send("approve")
    assert list(stored_events(radicale).values()) == ["Review"]
