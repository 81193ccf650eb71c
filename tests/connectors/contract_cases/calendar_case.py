"""The calendar's contract cases (real Radicale): ``calendar.create_event``."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.calendar import event_uid
from graph.errors import AlreadyDone
from tests.connectors.contract_cases import Case
from tests.fakes.radicale_server import Radicale, stored_events

BERLIN = ZoneInfo("Europe/Berlin")
ARGS = {"title": "Call with Dana", "start": "2026-12-03T14:00:00", "duration_minutes": 45}


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


def replay(request: pytest.FixtureRequest) -> None:
    radicale = request.getfixturevalue("radicale")
    app = caldav_app(request.getfixturevalue("app_factory"), radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    first, second = execute(app, action), execute(app, action)
    assert first.ok and second.duplicate and first.event_id == second.event_id
    assert app.engine.executor.effect_calls == 1
    assert stored_events(radicale) == {event_uid(action.idempotency_key): "Call with Dana"}


def restore(request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    radicale = request.getfixturevalue("radicale")
    app = caldav_app(request.getfixturevalue("app_factory"), radicale)
    keep = app.registry.propose("calendar.create_event", {**ARGS, "title": "Keep me"}, run_id="r0", index=0)
    assert execute(app, keep).ok
    before = stored_events(radicale)
    action = app.registry.propose("calendar.create_event", ARGS, run_id="r1", index=0)
    done = execute(app, action)
    assert len(stored_events(radicale)) == 2
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "Deleted the event 'Call with Dana' from the calendar."
    assert stored_events(radicale) == before
    return app, done, before


def twice(request: pytest.FixtureRequest) -> None:
    app, done, before = restore(request)
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(done.event_id, run_id="u2", actor="console:local")
    assert stored_events(request.getfixturevalue("radicale")) == before


CASES = [Case("calendar.create_event", replay, restore, twice)]
