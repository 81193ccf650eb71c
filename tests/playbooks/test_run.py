"""A playbook compiled to a graph: its actions go through the same policy and approvals as chat."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.app import App
from graph.playbooks.runner import PlaybookRunner
from memory.tables import Approval, Event
from tests.playbooks.conftest import CONSOLE, start

THREE = """
name: three
trigger: {manual: true}
steps:
  - id: add
    op: tasks.add_task
    args: {text: "call {{ trigger.who }}"}
  - id: listing
    op: tasks.list_tasks
  - id: tell
    message: "Added. Now: {{ steps.listing.text }}"
"""


def _effects(app: App) -> list[Event]:
    with Session(app.db) as s:
        return list(s.exec(select(Event).where(Event.kind == "effect")).all())


def test_steps_run_in_order_and_templates_read_earlier_outputs(app: App, runner: PlaybookRunner) -> None:
    pb = runner.parse(THREE)
    rep = runner.start(pb, slot="manual:1", conversation="console:t", channel="console", deciders=[CONSOLE],
                       trigger={"who": "Priya"})
    assert rep.status == "done", rep.text
    assert "Added. Now:" in rep.text and "call Priya" in rep.text
    assert [e.action for e in _effects(app)] == ["tasks.add_task"]


def test_a_step_needing_approval_produces_its_card_and_nothing_runs_before(app: App, runner: PlaybookRunner) -> None:
    text = """
name: ask
trigger: {manual: true}
steps:
  - id: inv
    op: bookkeeping.create_invoice
    args: {customer: Acme, amount: 120}
  - id: tell
    message: "done: {{ steps.inv.text }}"
"""
    rep = start(runner, text)
    assert rep.status == "waiting"
    assert "Invoice Acme" in rep.text and f"playbook approve {rep.run_id}" in rep.text
    assert _effects(app) == []
    with Session(app.db) as s:
        [ap] = s.exec(select(Approval)).all()
    assert ap.status == "pending" and ap.deciders == [CONSOLE]
    out = runner.decide_batch(rep.run_id, CONSOLE, approve=True)
    assert "done: " in "\n".join(getattr(x, "text", "") for x in out)
    assert [e.action for e in _effects(app)] == ["bookkeeping.create_invoice"]


def test_a_playbook_cannot_reach_an_operation_policy_denies(app: App, runner: PlaybookRunner) -> None:
    text = """
name: deny
trigger: {manual: true}
steps:
  - id: rm
    op: tasks.delete_task
    args: {task_id: 1}
  - id: tell
    message: never said
"""
    rep = start(runner, text)
    assert rep.status == "failed"
    assert "Policy refused tasks.delete_task" in rep.text and "never said" not in rep.text
    assert _effects(app) == []
    with Session(app.db) as s:
        assert s.exec(select(Approval)).all() == []


def test_a_stranger_cannot_decide_the_batch_card(app: App, runner: PlaybookRunner) -> None:
    text = """
name: ask2
trigger: {manual: true}
steps:
  - id: inv
    op: bookkeeping.create_invoice
    args: {customer: Acme, amount: 120}
"""
    rep = start(runner, text)
    out = runner.decide_batch(rep.run_id, "slack:UEVIL", approve=True)
    assert "not allowed" in out[0].text  # type: ignore[attr-defined]
    assert _effects(app) == []



def test_cards_decided_one_by_one_resume_the_playbook_once(app: App, runner: PlaybookRunner) -> None:
    text = """
name: ask3
trigger: {manual: true}
steps:
  - id: inv
    op: bookkeeping.create_invoice
    args: {customer: Acme, amount: 120}
  - id: tell
    message: "invoiced"
"""
    rep = start(runner, text)
    [(approval_id, _line)] = runner.batch(rep.run_id)
    assert runner.resume(rep.run_id).status == "waiting"  # its card still waits: nothing moves
    app.engine.decide(approval_id, True, CONSOLE)  # the card's own Approve button
    first = runner.resume(rep.run_id)
    assert first.status == "done" and "invoiced" in first.text
    assert runner.resume(rep.run_id).text == f"Playbook run {rep.run_id} already ended (done)."
    assert [e.action for e in _effects(app)] == ["bookkeeping.create_invoice"]
