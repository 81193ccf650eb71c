"""Issue 16's amounts and tasks, replayed through the console as a new user typed them."""

from __future__ import annotations

import io

import pytest

from bot.console import run_console


def answer(text: str, line: str) -> str:
    """Return what the console printed after a typed line, up to the next prompt."""
    return text.split(f"> {line}\n", 1)[1].split("\n> ", 1)[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_amounts_and_tasks_as_the_issue_typed_them(app_factory):
    app = app_factory()
    script = [
        "expense 5k laptop",
        "a",
        "expense 1e308 x",
        "expense €40 train",
        "expense 12.345 x",
        "expense 0.001 x",
        "expense 1,20 x",
        "expense 40 for printer ink",
        "r",
        "customer add Bob bob@bob.io",
        "a",
        "task call Priya tomorrow",
        "a",
        "task 1 done",
        "a",
        "undo",
        "tasks",
        "finish 1",
        "a",
        "reopen 1",
        "a",
        "delete 1",
        "a",
        "undo",
        "balance",
    ]
    out = io.StringIO()
    assert run_console(app, io.StringIO("\n".join(script) + "\n"), out) == 0
    text = out.getvalue()
    # 5k is five thousand, on the card and in the books
    assert "Record an expense of $5,000.00 for laptop" in answer(text, "expense 5k laptop")
    assert "Recorded expense #1: $5,000.00 laptop" in text
    assert "Balance: -$5,000.00." in answer(text, "balance")
    # What could be misread is refused, with what to type
    assert answer(text, "expense 1e308 x") == (
        "Nothing was recorded: '1e308' is scientific notation; type the amount in digits, like $40, 1,200.50 or 5k."
    )
    assert answer(text, "expense €40 train") == (
        "Nothing was recorded: The books are in USD, so '€40' cannot be recorded as it is: convert it to USD"
        " and type that amount (e.g. $40)."
    )
    assert answer(text, "expense 12.345 x") == (
        "Nothing was recorded: '12.345' has more than two decimals; type it in whole cents (e.g. 12.35)."
    )
    assert "less than a cent" in answer(text, "expense 0.001 x")
    assert "commas in the wrong places" in answer(text, "expense 1,20 x")
    # Card titles do not double words; a bare email is an email
    card = answer(text, "expense 40 for printer ink")
    assert "Record an expense of $40.00 for printer ink" in card and "for for" not in card
    assert "Add customer Bob <bob@bob.io>" in answer(text, "customer add Bob bob@bob.io")
    # `task 1 done` finishes task 1 (it does not add a task named "1 done"); undo reopens it
    assert "Mark task #1 done" in answer(text, "task 1 done")
    assert "Undone: Reopened task #1: call Priya." in answer(text, "undo")
    assert answer(text, "tasks") == "Open tasks:\n#1 call Priya — due tomorrow"
    assert "Mark task #1 done" in answer(text, "finish 1")
    assert "Reopen task #1" in answer(text, "reopen 1")
    assert "Delete task #1" in answer(text, "delete 1")
    assert text.count("Undone: Reopened task #1: call Priya.") == 2
