"""`help` lists every command: its entries and the grammar are held to each other both ways."""

from __future__ import annotations

import io

import pytest

from bot.console import ConsoleSession, run_console
from graph import rules
from graph.help import ENTRIES, HELP
from graph.planner import PlanRequest

NOT_UNDERSTOOD = "I did not understand that"


def _first_rule(line: str) -> int | None:
    return next((i for i, (pattern, _) in enumerate(rules._RULES) if pattern.match(line)), None)


def test_every_rule_of_the_grammar_has_a_help_entry_that_reaches_it():
    reached = {_first_rule(x) for e in ENTRIES if e.where == "rule" for x in e.examples}
    missing = [rules._RULES[i][0].pattern for i in range(len(rules._RULES)) if i not in reached]
    assert missing == [], f"rules with no help entry (add one to graph/help.py): {missing}"


def test_every_help_example_is_understood():
    planner = rules.RulePlanner()
    for e in ENTRIES:
        if e.where != "rule":
            continue
        for line in e.examples:
            plan = planner.plan(PlanRequest(text=line, actor="t"))
            assert plan.proposals, f"{line!r} (help: {e.usage}) is not understood: {plan.reply}"
        assert e.usage in HELP and e.what in HELP


def test_help_names_the_commands_that_were_missing():
    for word in ("forget", "pending", "retry", "quit", "approve [N]", "undo", "digest", "reindex"):
        assert word in HELP


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_chat_command_in_help_is_answered_by_the_console(app_factory):
    chat = ConsoleSession(app_factory())
    assert chat.send("help")[0].text == HELP
    for e in ENTRIES:
        if e.where != "chat" or e.usage == "quit":
            continue
        for line in e.examples:
            texts = [r.text for r in chat.send(line)]
            assert not any(NOT_UNDERSTOOD in t for t in texts), (line, texts)
    out = io.StringIO()
    assert run_console(chat.app, io.StringIO("quit\nhelp\n"), out) == 0
    assert "I understand:" not in out.getvalue()  # it left at `quit`, before `help`
