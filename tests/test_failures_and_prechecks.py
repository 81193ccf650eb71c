"""Failures look like failures (runs, trace, /status, digest; Retry works once), and checks come before the card."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from agents.catalog import default_registry
from agents.contract import Action
from agents.errors import PrecheckFailed
from bot.console import ConsoleSession
from bot.digest import DIGEST_KIND
from bot.runs_view import runs_text, trace_text
from memory import ledger
from memory.tables import Approval, Event, Run, utcnow

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _digest(app) -> str:
    job = app.jobs.submit(DIGEST_KIND, key=f"digest:{utcnow().timestamp()}", args={"day": "2099-01-01"})
    assert app.jobs.runner.run(job.id) == "done"
    done = app.jobs.get(job.id)
    assert done is not None
    return str(done.result["text"])


def _run_of(app, text: str) -> Run:
    with Session(app.db) as s:
        runs = s.exec(select(Run).where(Run.input == text).order_by(Run.created_at)).all()
    return runs[-1]


@SQLITE
def test_a_failed_action_is_failed_everywhere_and_its_retry_runs_it_once(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    year = datetime.now(UTC).year
    number = f"INV-{year}-0001"
    chat.send("invoice Acme 800 website")
    chat.send("approve")
    # Given two cards for the same payment (both pass the pre-check: the invoice is open),
    [first] = chat.send(f"paid {number}")
    [second] = chat.send(f"paid {number}")
    assert first.card is not None and second.card is not None
    # when both are approved, the second fails: the first paid it.
    _, paid = chat.send("approve 1")
    assert paid.text.startswith(f"Done: Marked {number} paid")
    _, failed = chat.send("approve")
    assert failed.text == f"Could not mark {number} paid: {number} is already paid, not open"
    [retry_button] = failed.buttons
    run_id = retry_button.value
    # Then the run is failed in runs, trace, /status and the digest.
    assert app.engine.status()["recent_failures"][0].id == run_id
    [status] = chat.send("status")
    assert "Recent failures: 1" in status.text and run_id in status.text
    assert f"{run_id}" in runs_text(app) and "failed" in runs_text(app).split(run_id, 1)[1].split("\n")[0]
    trace = trace_text(app, run_id)
    assert trace is not None and f"run {run_id} [failed]" in trace
    assert f"Run {run_id} failed (Could not mark {number} paid" in _digest(app)
    # When the first payment is undone and the failure retried, the same action runs, once:
    [undone] = chat.send("undo")
    assert undone.text.startswith(f"Undone: Reopened {number}")
    [again] = chat.send(f"retry {run_id}")
    assert again.text.startswith(f"Done: Marked {number} paid"), again.text
    assert _run_of(app, f"paid {number}").status == "done"
    with Session(app.db) as s:
        key = s.exec(select(Approval).where(Approval.run_id == run_id)).one().action["idempotency_key"]
        effects = s.exec(select(Event).where(Event.kind == "effect", Event.idempotency_key == key)).all()
        assert len(effects) == 1
        assert ledger.account_balance(s, ledger.CASH) == 800_00
    # and a second Retry does nothing.
    [twice] = chat.send(f"retry {run_id}")
    assert twice.text == f"Run {run_id} was already retried."
    assert app.engine.status()["recent_failures"] == []


@SQLITE
def test_checks_come_before_the_card(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    year = datetime.now(UTC).year
    chat.send("invoice Acme 800 website")
    chat.send("approve")
    chat.send("draft email dana@example.org Invoice: attached")
    chat.send("approve")

    def refused(line: str) -> str:
        [reply] = chat.send(line)
        assert reply.card is None, line
        return reply.text

    assert refused("send draft 1") == (
        "Cannot send an email to dana@example.org: 'Invoice' (draft #1): email is not set up "
        "(set SMTP_URL and COO_EMAIL_FROM, then restart). Nothing was asked or changed."
    )
    assert refused(f"paid INV-{year}-0099") == (
        f"Cannot mark INV-{year}-0099 paid: there is no invoice INV-{year}-0099 "
        "(type `invoices` for the open ones). Nothing was asked or changed."
    )
    assert refused(f"paid INV-{year}-0001 500") == (
        f"Cannot mark INV-{year}-0001 paid ($500.00): INV-{year}-0001 is for $800.00, not $500.00. "
        "Nothing was asked or changed."
    )
    assert "'bob@bob' is not an email address (like dana@example.org)" in refused("email bob@bob Hi: there")
    with Session(app.db) as s:  # only the invoice's and the draft's approvals: no card for any of these
        assert len(s.exec(select(Approval)).all()) == 2
    assert app.engine.pending("console:local") == []


def test_every_operation_with_a_precheck_is_checked_at_proposal(tmp_path):
    from memory.db import make_engine

    registry = default_registry()
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    try:
        action: Action = registry.propose(
            "bookkeeping.mark_paid", {"number": "INV-2026-0042"}, run_id="r", index=0
        )
        assert registry.prechecks(action.name) and not registry.prechecks("bookkeeping.record_expense")
        with Session(engine) as s, pytest.raises(PrecheckFailed, match="there is no invoice INV-2026-0042"):
            registry.precheck(action, s)
    finally:
        engine.dispose()


def _op_whose_precheck_raises(exc: Exception):
    from pydantic import BaseModel

    from agents.contract import Operation, SideEffect
    from agents.registry import Registry

    class NoArgs(BaseModel):
        pass

    def check(_s: Session, _a: NoArgs) -> None:
        raise exc

    op = Operation(
        agent="cal",
        name="book",
        description="book a slot",
        args=NoArgs,
        side_effect=SideEffect.IRREVERSIBLE,
        summarize=lambda _a: "Book a slot",
        changes=lambda _a: "a slot",
        execute=lambda _c, _a: None,  # type: ignore[arg-type,return-value]
        precheck=check,
    )
    registry = Registry([op])
    return registry, registry.propose("cal.book", {}, run_id="r", index=0)


def test_a_connectors_own_error_in_a_precheck_is_a_refusal_with_its_sentence(tmp_path):
    from connectors.errors import CalendarUnavailable
    from memory.db import make_engine

    registry, action = _op_whose_precheck_raises(CalendarUnavailable("the calendar server did not answer"))
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    try:
        with Session(engine) as s, pytest.raises(PrecheckFailed, match="the calendar server did not answer"):
            registry.precheck(action, s)
    finally:
        engine.dispose()


def test_a_bug_in_a_precheck_is_raised_as_it_is_never_shown(tmp_path):
    from memory.db import make_engine

    registry, action = _op_whose_precheck_raises(KeyError("internal"))
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    try:
        with Session(engine) as s, pytest.raises(KeyError):
            registry.precheck(action, s)
    finally:
        engine.dispose()
