"""The connector contract for the calendar: declared side-effect classes, one event per idempotency
key (also when the server has it but our record was lost), compensation restores the prior state,
and a read-only calendar refuses writes with a clear message. Real Radicale; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from caldav.davclient import DAVClient
from sqlmodel import Session

from agents.contract import SideEffect
from agents.errors import PrecheckFailed
from connectors.calendar import CalDavCalendar, NewEvent, event_uid
from graph.errors import AlreadyDone
from tests.fakes.radicale_server import Radicale, radicale_with_calendar, stored_events

BERLIN = ZoneInfo("Europe/Berlin")
ARGS = {"title": "Call with Dana", "start": "2026-12-03T14:00:00", "duration_minutes": 45}


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with radicale_with_calendar(tmp_path / "radicale") as server:
        yield server


def caldav_app(app_factory, server: Radicale):
    return app_factory(
        settings={
            "coo_caldav_url": server.url + "/",
            "coo_caldav_username": server.username,
            "coo_caldav_password": server.password,
            "coo_caldav_calendar": "Work",
            "coo_timezone": "Europe/Berlin",
        }
    )


def execute(app, action):
    return app.engine.executor.execute(
        action, run_id="r1", conversation="console:local", actor="console:local"
    )


def test_operations_declare_their_side_effect_and_compensation(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    upcoming, create = app.registry.get("calendar.upcoming"), app.registry.get("calendar.create_event")
    assert (upcoming.side_effect, upcoming.compensate) == (SideEffect.READ, None)
    assert create.side_effect is SideEffect.REVERSIBLE and create.compensate is not None


def test_connector_same_key_twice_gives_one_event(radicale):
    with DAVClient(url=radicale.url + "/", username=radicale.username, password=radicale.password) as c:
        cal = CalDavCalendar(c, BERLIN, "Work")
        start = datetime(2026, 12, 3, 14, tzinfo=BERLIN)
        new = NewEvent("Call", start, start + timedelta(hours=1))
        first = cal.create(new, "act_same", stamp=datetime.now(UTC))
        second = cal.create(new, "act_same", stamp=datetime.now(UTC))
        other = cal.create(new, "act_other", stamp=datetime.now(UTC))
    assert (first.created, second.created, other.created) == (True, False, True)
    assert first.uid == second.uid == event_uid("act_same") and first.url == second.url
    assert stored_events(radicale) == {event_uid("act_same"): "Call", event_uid("act_other"): "Call"}


def test_action_executed_twice_gives_one_event_and_one_effect(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    first, second = execute(app, action), execute(app, action)
    assert first.ok and second.duplicate and first.event_id == second.event_id
    assert app.engine.executor.effect_calls == 1
    assert stored_events(radicale) == {event_uid(action.idempotency_key): "Call with Dana"}


def test_event_on_the_server_but_not_recorded_is_not_created_again(app_factory, radicale):
    # Given: the event was created, then the process died before the effect was recorded.
    app = caldav_app(app_factory, radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    assert app.calendar is not None and app.calendar.writer is not None
    start = datetime(2026, 12, 3, 14, tzinfo=BERLIN)
    app.calendar.writer.create(
        NewEvent("Call with Dana", start, start + timedelta(minutes=45)),
        action.idempotency_key,
        datetime.now(UTC),
    )
    # When: the action runs again after the restart. Then: it finds that event; the server has one.
    result = execute(app, action)
    assert result.ok and result.event_id and not result.duplicate
    assert stored_events(radicale) == {event_uid(action.idempotency_key): "Call with Dana"}


def test_compensation_restores_the_prior_state(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    keep = app.registry.propose("calendar.create_event", {**ARGS, "title": "Keep me"}, run_id="r0", index=0)
    assert execute(app, keep).ok
    before = stored_events(radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    done = execute(app, action)
    assert len(stored_events(radicale)) == 2
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "Deleted the event 'Call with Dana' from the calendar."
    assert stored_events(radicale) == before
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(done.event_id, run_id="u2", actor="console:local")
    assert stored_events(radicale) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_read_only_calendar_refuses_writes(app_factory, tmp_path):
    feed = tmp_path / "feed.ics"
    feed.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nEND:VCALENDAR\n")
    app = app_factory(settings={"coo_calendar_ics": str(feed)})
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    # Refused before any card, by the operation's pre-check, with what to do.
    assert app.registry.prechecks(action.name)
    with Session(app.db) as s, pytest.raises(PrecheckFailed) as refused:
        app.registry.precheck(action, s)
    assert "read-only" in str(refused.value) and "COO_CALDAV_URL" in str(refused.value)
    # Even if it were executed, it changes nothing and says why.
    result = execute(app, action)
    assert not result.ok and "The calendar is read-only" in result.text and result.event_id is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_undo_of_an_event_deleted_meanwhile_changes_nothing_and_says_so(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    done = execute(app, action)
    # Given: the operator deleted the event in their calendar app.
    with DAVClient(url=radicale.url + "/", username=radicale.username, password=radicale.password) as c:
        assert CalDavCalendar(c, BERLIN, "Work").delete(event_uid(action.idempotency_key))
    # When undone: nothing to delete, no error, and the undo is recorded once.
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "The event 'Call with Dana' was already gone from the calendar; nothing to delete."
    assert stored_events(radicale) == {}
