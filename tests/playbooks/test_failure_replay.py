"""A failed step stops the run at its checkpoint; Retry runs that step again, Skip goes on; replay repeats no effect."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from agents.errors import Refusal
from bot.app import App
from graph.playbooks.queries import QueryContext
from graph.playbooks.runner import PlaybookRunner
from memory.tables import Event
from tests.playbooks.conftest import start

FLAKY = """
name: flaky
trigger: {manual: true}
steps:
  - id: add
    op: tasks.add_task
    args: {text: "call Priya"}
  - id: look
    query: flaky
  - id: tell
    message: "look said {{ steps.look.value }}"
"""


def _effects(app: App) -> int:
    with Session(app.db) as s:
        return len(s.exec(select(Event).where(Event.kind == "effect")).all())


def _flaky(runner: PlaybookRunner, failures: int) -> list[int]:
    calls = [0]

    def query(ctx: QueryContext, args: dict[str, Any]) -> str:
        calls[0] += 1
        if calls[0] <= failures:
            raise Refusal("the books are locked")
        return "fine"

    runner.queries["flaky"] = query
    return calls


def test_retry_resumes_from_the_failed_step_not_from_the_start(app: App, runner: PlaybookRunner) -> None:
    calls = _flaky(runner, failures=1)
    rep = start(runner, FLAKY)
    assert rep.status == "failed"
    assert "stopped at step look: Step look failed: the books are locked" in rep.text
    assert f"playbook retry {rep.run_id}" in rep.text and f"playbook skip {rep.run_id}" in rep.text
    assert _effects(app) == 1
    again = runner.retry(rep.run_id)
    assert again.status == "done" and "look said fine" in again.text
    assert calls[0] == 2 and _effects(app) == 1  # the task was not added twice
    assert "has not stopped at a failed step" in runner.retry(rep.run_id).text


def test_skip_goes_on_without_the_failed_step(app: App, runner: PlaybookRunner) -> None:
    _flaky(runner, failures=5)
    text = FLAKY.replace('"look said {{ steps.look.value }}"', "went on")
    rep = start(runner, text)
    assert rep.status == "failed"
    skipped = runner.skip(rep.run_id)
    assert skipped.status == "done" and "went on" in skipped.text
    trace = runner.trace(rep.run_id)
    assert "1. add [op] done" in trace and "2. look [query] skipped" in trace and "3. tell [message] done" in trace


def test_replay_from_a_step_repeats_no_effect(app: App, runner: PlaybookRunner) -> None:
    _flaky(runner, failures=0)
    rep = start(runner, FLAKY)
    assert rep.status == "done" and _effects(app) == 1
    again = runner.replay(rep.run_id, "add")
    assert again.status == "done" and _effects(app) == 1
    assert "has no step 'nope'" in runner.replay(rep.run_id, "nope").text
