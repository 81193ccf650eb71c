"""Agents refuse with errors written for the user (agents/errors.py), never a bare ValueError or LookupError:
a built-in exception's text is never shown to a user (graph/executor.py), so a bare one would reach them
only as "something went wrong". A schema validator's ValueError is pydantic's idiom (it becomes
InvalidArguments), and the registry's and a spec's ValueErrors are wiring mistakes found at start."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agents.dates import DateError
from agents.errors import AgentError, Missing, Refusal
from agents.money import AmountError
from graph.executor import shown_message

AGENTS = Path(__file__).resolve().parents[2] / "agents"
WIRING = {"registry.py", "spec.py"}  # raised at start, by a wrong spec; never in answer to a user
BARE = {"ValueError", "LookupError"}


def _validator(fn: ast.FunctionDef) -> bool:
    names = {
        (d.func if isinstance(d, ast.Call) else d).id  # type: ignore[union-attr]
        for d in fn.decorator_list
        if isinstance(d.func if isinstance(d, ast.Call) else d, ast.Name)
    }
    return bool(names & {"field_validator", "model_validator"})


def _bare_raises(path: Path, root: Path = AGENTS.parent) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST, in_validator: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_validator or (isinstance(child, ast.FunctionDef) and _validator(child))
            if isinstance(child, ast.Raise) and not inside:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(exc, ast.Name) and exc.id in BARE:
                    found.append(f"{path.relative_to(root)}:{child.lineno}")
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return found


def test_no_agent_refuses_with_a_bare_value_error_or_lookup_error():
    files = [p for p in AGENTS.rglob("*.py") if p.name not in WIRING or p.parent != AGENTS]
    bare = [hit for p in files for hit in _bare_raises(p)]
    assert bare == [], f"raise agents.errors.Refusal or Missing instead: {bare}"


def test_the_check_finds_a_bare_raise_outside_a_validator(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(
        "from pydantic import field_validator\n"
        "@field_validator('x')\n"
        "def ok(v):\n    raise ValueError('a schema says no')\n"
        "def bad():\n    raise LookupError('no such thing')\n"
    )
    assert _bare_raises(path, tmp_path) == ["probe.py:6"]


@pytest.mark.parametrize(
    ("error", "caught_as"),
    [
        (Refusal("INV-7 is already paid, not open"), ValueError),
        (Missing("there is no task #9"), LookupError),
        (AmountError("Type an amount first, like 12.50."), ValueError),
        (DateError("'2026-02-30' is not a date; type it like 2026-12-10."), ValueError),
    ],
)
def test_an_agent_error_is_shown_and_still_caught_as_before(error, caught_as):
    assert isinstance(error, AgentError) and isinstance(error, caught_as)
    assert shown_message(error) == str(error)


@pytest.mark.parametrize("error", [ValueError("internal-7731"), LookupError("x"), KeyError("column")])
def test_a_built_in_error_is_never_shown(error):
    assert shown_message(error) is None
