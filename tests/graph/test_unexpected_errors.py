"""An unexpected error (a bug) never reaches the user or the model: they get an error id, the log and the
trace get the error. Errors that carry a message written for the user still show it."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import Session, select

from agents.contract import ExecContext, Operation, Outcome, SideEffect
from agents.errors import ConnectorFailed, Refusal
from bot.console import ConsoleSession
from bot.runs_view import trace_text
from graph.planner import Plan, PlanRequest, RawProposal
from memory.tables import Run, Turn

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
INTERNAL = "internal-column-name-7731"  # what a bug's exception says; nobody but the operator may see it
ERROR_ID = re.compile(r"error (E-[0-9a-f]{6})")


class Args(BaseModel):
    n: int = 1


class Strict(BaseModel):
    amount_cents: int


def _raise_key_error(_ctx: ExecContext, _args: Args) -> Outcome:
    row: dict[str, Any] = {}
    return Outcome(text=row[INTERNAL])


def _raise_validation_error(_ctx: ExecContext, _args: Args) -> Outcome:
    Strict.model_validate({"amount_cents": INTERNAL})
    return Outcome(text="unreachable")


def _raise_user_error(_ctx: ExecContext, _args: Args) -> Outcome:
    raise ConnectorFailed("the probe server is down; try again later")


class Proposes:
    """Proposes one probe operation the first time, then answers in words (and keeps what it was shown)."""

    name = "probe-planner"

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: list[PlanRequest] = []

    def plan(self, request: PlanRequest) -> Plan:
        self.seen.append(request)
        if len(self.seen) == 1:
            return Plan(proposals=[RawProposal(self.key, {"n": 1})], planner=self.name)
        return Plan(reply="ok", planner=self.name)


class Crashes:
    """A planner with a bug."""

    name = "crashing-planner"

    def plan(self, request: PlanRequest) -> Plan:
        return Plan(reply={}[INTERNAL])


def _poked(_ctx: ExecContext, _args: Args) -> Outcome:
    return Outcome(text="Poked the probe.", compensation={"n": 1})


def _raise_key_error_on_undo(_ctx: ExecContext, _compensation: dict[str, Any]) -> Outcome:
    return Outcome(text={}[INTERNAL])


def _probe_app(app_factory, execute, compensate=None) -> tuple[Any, Proposes]:
    planner = Proposes("probe.poke")
    app = app_factory(planner=planner)
    app.registry.add(
        Operation(
            agent="probe",
            name="poke",
            description="poke the probe",
            args=Args,
            side_effect=SideEffect.IRREVERSIBLE if compensate is None else SideEffect.REVERSIBLE,
            summarize=lambda a: "Poke the probe",
            changes=lambda a: "the probe is poked",
            execute=execute,
            compensate=compensate,
        )
    )
    return app, planner


def _turns(app) -> list[str]:
    with Session(app.db) as s:
        return [t.text for t in s.exec(select(Turn)).all()]


@SQLITE
@pytest.mark.parametrize(
    ("execute", "raised"), [(_raise_key_error, "KeyError"), (_raise_validation_error, "ValidationError")]
)
def test_a_bug_inside_an_operation_reaches_neither_the_user_nor_the_model(app_factory, caplog, execute, raised):
    app, planner = _probe_app(app_factory, execute)
    chat = ConsoleSession(app)
    [card] = chat.send("poke it")
    assert card.card is not None
    with caplog.at_level(logging.ERROR, logger="graph.telemetry"):
        failed = chat.send("approve")[-1]
    # The user reads one plain sentence with an id, and where to look.
    run_id = failed.buttons[0].value
    assert INTERNAL not in failed.text and "Error" not in failed.text and "validation" not in failed.text
    error_id = ERROR_ID.search(failed.text)
    assert error_id is not None, failed.text
    assert failed.text == (
        f"Could not poke the probe: something went wrong on our side (error {error_id[1]}); "
        f"it is in the log and in `coo trace {run_id}`."
    )
    # The stored conversation and the model's next context hold the sentence, never the exception.
    assert not any(INTERNAL in t for t in _turns(app))
    chat.send("and now?")
    history = planner.seen[-1].history
    assert history and not any(INTERNAL in text for _role, text in history)
    assert any(error_id[1] in text for _role, text in history)
    # The log has the id with the traceback; the trace has the id and what was raised.
    [record] = [r for r in caplog.records if error_id[1] in r.getMessage()]
    assert record.exc_info is not None and INTERNAL in caplog.text
    trace = trace_text(app, run_id)
    assert trace is not None
    [line] = [x for x in trace.splitlines() if x.split()[1:2] == ["error"]]
    assert error_id[1] in line and f'"type": "{raised}"' in line


@SQLITE
def test_an_error_written_for_the_user_is_shown_as_it_is(app_factory):
    app, _ = _probe_app(app_factory, _raise_user_error)
    chat = ConsoleSession(app)
    chat.send("poke it")
    failed = chat.send("approve")[-1]
    assert failed.text == "Could not poke the probe: the probe server is down; try again later"


@SQLITE
def test_a_bug_that_fails_the_run_is_reported_with_an_id(app_factory, caplog):
    app = app_factory(planner=Crashes())
    chat = ConsoleSession(app)
    with caplog.at_level(logging.ERROR, logger="graph.telemetry"):
        [failed] = chat.send("hello")
    run_id = failed.buttons[0].value
    error_id = ERROR_ID.search(failed.text)
    assert error_id is not None and INTERNAL not in failed.text
    assert failed.text == (
        f"Run {run_id} failed (KeyError). Something went wrong on our side (error {error_id[1]}); "
        f"it is in the log and in `coo trace {run_id}`. It can be retried."
    )
    assert not any(INTERNAL in t for t in _turns(app))
    assert any(error_id[1] in r.getMessage() and r.exc_info for r in caplog.records)
    trace = trace_text(app, run_id)
    assert trace is not None and error_id[1] in trace


@SQLITE
def test_a_bug_inside_an_undo_is_reported_with_an_id_in_the_trace_of_the_run_it_undoes(app_factory, caplog):
    app, _ = _probe_app(app_factory, _poked, _raise_key_error_on_undo)
    chat = ConsoleSession(app)
    chat.send("poke it")
    assert chat.send("approve")[-1].text.startswith("Done: Poked the probe.")
    with caplog.at_level(logging.ERROR, logger="graph.telemetry"):
        [failed] = chat.send("undo")
    with Session(app.db) as s:
        run_id = s.exec(select(Run.id).where(Run.input == "poke it")).one()
    error_id = ERROR_ID.search(failed.text)
    assert error_id is not None and INTERNAL not in failed.text, failed.text
    assert failed.text == (
        f"Undo failed. Something went wrong on our side (error {error_id[1]}); "
        f"it is in the log and in `coo trace {run_id}`."
    )
    trace = trace_text(app, run_id)
    assert trace is not None and error_id[1] in trace
    assert any(error_id[1] in r.getMessage() and r.exc_info for r in caplog.records)


def _raise_bare_value_error(_ctx: ExecContext, _args: Args) -> Outcome:
    raise ValueError(INTERNAL)  # a built-in exception's text is never shown, even a bare ValueError's


@SQLITE
def test_a_bare_value_error_inside_an_operation_is_not_shown(app_factory):
    app, _ = _probe_app(app_factory, _raise_bare_value_error)
    chat = ConsoleSession(app)
    chat.send("poke it")
    failed = chat.send("approve")[-1]
    assert INTERNAL not in failed.text and ERROR_ID.search(failed.text) is not None, failed.text
    assert failed.text.startswith("Could not poke the probe: something went wrong on our side (error E-")


def _probe_app_checked(app_factory, *, precheck=None, expand=None) -> Any:
    app = app_factory(planner=Proposes("probe.poke"))
    app.registry.add(
        Operation(
            agent="probe",
            name="poke",
            description="poke the probe",
            args=Args,
            side_effect=SideEffect.IRREVERSIBLE,
            summarize=lambda a: "Poke the probe",
            changes=lambda a: "the probe is poked",
            execute=_poked,
            precheck=precheck,
            expand=expand,
        )
    )
    return app


def _key_error_check(_s: Session, _args: Args) -> None:
    _ = {}[INTERNAL]


def _key_error_expand(_s: Session, _args: Args) -> tuple[str, dict[str, Any]]:
    return {}[INTERNAL]


def _refusing_check(_s: Session, _args: Args) -> None:
    raise Refusal("the probe is asleep")


@SQLITE
@pytest.mark.parametrize("hook", ["precheck", "expand"])
def test_a_bug_in_a_precheck_or_an_expansion_does_not_reach_the_user(app_factory, caplog, hook):
    app = _probe_app_checked(app_factory, **{hook: _key_error_check if hook == "precheck" else _key_error_expand})
    chat = ConsoleSession(app)
    with caplog.at_level(logging.ERROR, logger="graph.telemetry"):
        failed = chat.send("poke it")[-1]
    assert failed.card is None
    error_id = ERROR_ID.search(failed.text)
    assert error_id is not None and INTERNAL not in failed.text, failed.text
    assert not any(INTERNAL in t for t in _turns(app))
    assert any(error_id[1] in r.getMessage() and r.exc_info for r in caplog.records)


@SQLITE
def test_a_refusal_in_a_precheck_is_shown_as_it_is(app_factory):
    app = _probe_app_checked(app_factory, precheck=_refusing_check)
    [refused] = ConsoleSession(app).send("poke it")
    assert refused.card is None
    assert refused.text == "Cannot poke the probe: the probe is asleep. Nothing was asked or changed."
