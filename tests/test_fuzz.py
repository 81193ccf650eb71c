"""Property-based fuzzing of what parses outside input here: the rule grammar, model tool-call arguments,
and console lines through the whole engine. No crash, and nothing stored without an approval."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from agents.catalog import default_registry
from agents.errors import AgentError
from bot.console import ConsoleSession
from graph.planner import PlanRequest
from graph.rules import RulePlanner
from memory.tables import Event, LedgerEntry, Task
from tests.depth import examples

GRAMMAR_WORDS = [
    "expense",
    "income",
    "balance",
    "task",
    "tasks",
    "remember",
    "recall",
    "forget",
    "email",
    "research",
    "help",
    "approve",
    "a",
    "reject",
    "r",
    "undo",
    "retry",
    "/budget",
    "/status",
    "/runs",
    "budget set",
]
lines = st.one_of(
    st.text(max_size=300),
    st.builds(lambda w, rest: f"{w} {rest}", st.sampled_from(GRAMMAR_WORDS), st.text(max_size=120)),
    st.builds(
        lambda w, n, rest: f"{w} {n} {rest}",
        st.sampled_from(["expense", "income"]),
        st.one_of(
            st.decimals(allow_nan=True, allow_infinity=True).map(str),
            st.integers().map(str),
            st.text(max_size=12),
        ),
        st.text(max_size=40),
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=examples(10_000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines)
def test_rule_grammar_never_crashes(line: str):
    plan = RulePlanner().plan(PlanRequest(text=line, actor="console:local"))
    assert plan.proposals or plan.reply
    for p in plan.proposals:
        assert isinstance(p.arguments, dict)


REGISTRY = default_registry()
KEYS = [op.tool_name for op in REGISTRY.offered()] + [
    "shell__exec",
    "",
    "bookkeeping.reverse_entry",
    "__init__",
]


@settings(max_examples=examples(10_000), deadline=None)
@given(
    st.sampled_from(KEYS),
    st.one_of(st.dictionaries(st.text(max_size=12), json_values, max_size=5), json_values),
)
def test_tool_call_arguments_are_validated_or_refused(key: str, args: Any):
    try:
        action = REGISTRY.propose(key, args, run_id="r", index=0)
    except AgentError as exc:
        assert str(exc)  # a clear, user-safe message
        return
    # Whatever got through fits its schema exactly and re-validates to the same canonical form.
    op = REGISTRY.get(action.name)
    assert op.args.model_validate(action.arguments).model_dump(mode="json") == action.arguments
    if action.amount_cents is not None:
        assert 0 < action.amount_cents <= 10**13


def _counts(app) -> tuple[int, int, int]:
    with Session(app.db) as s:
        return (
            s.exec(select(func.count()).select_from(LedgerEntry)).one(),
            s.exec(select(func.count()).select_from(Task)).one(),
            s.exec(select(func.count()).select_from(Event).where(Event.kind == "effect")).one(),
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_console_lines_through_the_engine(app_factory):
    app = app_factory(settings={"coo_rate_per_minute": 10**9})
    chat = ConsoleSession(app)
    no_approve = lines.filter(lambda s: s.strip().split(" ")[0].lower() not in {"approve", "a", "yes", "y"})

    @settings(
        max_examples=examples(1_000),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(no_approve)
    def run(line: str):
        before = _counts(app)
        replies = chat.send(line)
        assert all(r.text or r.card for r in replies)
        assert not any("Traceback" in r.text for r in replies)
        # Nothing is written to the ledger, tasks or effects without an approval.
        assert _counts(app) == before

    run()
