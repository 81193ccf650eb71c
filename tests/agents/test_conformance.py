"""One conformance suite over every agent spec (``agents.catalog.AGENTS``).

- every rule of the grammar proposes an operation some spec offers;
- every job kind an agent enqueues is registered by a spec, and every enqueue passes the attempts of
  the same ``Retry`` policy its kind is built with;
- every prompt has a version and renders into the planner's system prompt;
- every reversible operation has a compensation, and a case that checks it: in the parametrised
  connector contract suite (``tests/connectors/test_contracts.py``), or named here.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from agents import catalog
from agents.calendar import CalendarConfig
from agents.contract import SideEffect
from agents.outreach import OutreachConfig
from agents.research import ResearchConfig
from agents.spec import AgentSpec, Deps
from agents.webhooks import WebhooksConfig
from connectors.netcheck import EVERYWHERE, AddressPolicy
from graph.prompts import planner_version, render_planner_system
from graph.rules import grammar
from memory.knowledge.store import KnowledgeStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def specs() -> Iterator[list[AgentSpec]]:
    """Every spec as a fully configured App builds it (no I/O happens while building)."""
    clients: list[httpx.Client] = []

    def http() -> httpx.Client:
        clients.append(httpx.Client())
        return clients[-1]

    deps = Deps(knowledge=cast(KnowledgeStore, object()), http=http)
    configs: dict[str, Any] = {
        "outreach": OutreachConfig(email_ready=True),
        "research": ResearchConfig(addresses=AddressPolicy(EVERYWHERE)),
        "calendar": CalendarConfig(readers=(), writer=cast(Any, object())),
        "webhooks": WebhooksConfig(targets=frozenset({"crm"})),
    }
    yield catalog.build_specs(deps, configs)
    for c in clients:
        c.close()


def test_every_agent_is_listed_once_under_its_own_name(specs: list[AgentSpec]) -> None:
    assert [s.name for s in specs] == list(catalog.AGENTS)


def test_every_rule_key_is_an_offered_operation(specs: list[AgentSpec]) -> None:
    offered = {op.key for s in specs for op in s.operations if op.offered}
    keys = set()
    for spec in specs:
        for entry in spec.help:
            if entry.where != "rule":
                continue
            for line in entry.examples:
                raw = grammar(line)
                assert raw is not None, f"{spec.name}: help example {line!r} matches no rule"
                keys.add(raw.key)
    assert keys, "no rule was reached"
    assert keys - offered == set(), f"rules propose operations nobody offers: {sorted(keys - offered)}"
    # and every rule of every spec is reached by one of the examples above (graph/help's drift test)
    reached = {
        r.pattern.pattern
        for s in specs
        for r in s.rules
        if any(r.pattern.match(x) for e in s.help for x in e.examples)
    }
    assert {r.pattern.pattern for s in specs for r in s.rules} == reached


def test_a_rule_names_only_its_own_agents_operations(specs: list[AgentSpec]) -> None:
    for spec in specs:
        for entry in spec.help:
            for line in entry.examples if entry.where == "rule" else ():
                raw = grammar(line)
                assert raw is not None and raw.key.split(".", 1)[0] == spec.name, (spec.name, line)


def _enqueues(module: Any) -> list[ast.Call]:
    """Return the ``jobs.enqueue(...)`` calls written in an agent's package."""
    calls: list[ast.Call] = []
    package = Path(inspect.getfile(module)).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "enqueue"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "jobs"
            ):
                calls.append(node)
    return calls


def _module(spec: AgentSpec) -> Any:
    return sys.modules[catalog.AGENTS[spec.name].__module__]


def test_every_enqueued_job_kind_is_declared_and_registered(specs: list[AgentSpec]) -> None:
    registered = {kind.name for s in specs for kind in s.jobs}
    assert len(registered) == sum(len(s.jobs) for s in specs), "a job kind is registered twice"
    for spec in specs:
        module = _module(spec)
        written = set()
        for call in _enqueues(module):
            kind = next(k.value for k in call.keywords if k.arg == "kind")
            assert isinstance(kind, ast.Name), f"{spec.name}: enqueue with a kind that is not a constant"
            written.add(getattr(module, kind.id))
        assert written == set(spec.enqueues), f"{spec.name} enqueues {written}, declares {spec.enqueues}"
        assert set(spec.enqueues) <= registered, (
            f"{spec.name}: {set(spec.enqueues) - registered} not registered"
        )


def test_every_enqueue_takes_its_attempts_from_the_kinds_retry_policy(specs: list[AgentSpec]) -> None:
    for spec in specs:
        for call in _enqueues(_module(spec)):
            attempts = next((k.value for k in call.keywords if k.arg == "max_attempts"), None)
            assert attempts is not None, (
                f"{spec.name}: enqueue without max_attempts (the job table's default)"
            )
            assert "max_attempts" in ast.unparse(attempts), ast.unparse(attempts)


def test_a_kind_and_its_enqueue_agree_on_attempts(specs: list[AgentSpec]) -> None:
    from agents.knowledge.reindex import REINDEX_RETRY
    from agents.outreach import SEND_KIND
    from agents.tasks.remind import REMIND_KIND, REMIND_RETRY

    kinds = {kind.name: kind for s in specs for kind in s.jobs}
    assert kinds[REMIND_KIND].retry == REMIND_RETRY
    assert kinds[SEND_KIND].retry == OutreachConfig().retry
    assert kinds["knowledge.reindex"].retry == REINDEX_RETRY
    assert kinds["research.fetch"].retry == ResearchConfig().retry
    assert kinds["webhooks.post"].retry == WebhooksConfig().retry


def test_every_prompt_has_a_version_and_renders(specs: list[AgentSpec]) -> None:
    prompts = [s.prompt for s in specs if s.prompt is not None]
    assert prompts, "no agent has a prompt"
    for p in prompts:
        assert p.agent in catalog.AGENTS
        assert re.fullmatch(r"[a-z]+-[0-9][0-9.-]*", p.version), p.version
        text = render_planner_system([p])
        assert f"About the {p.agent} tools ({p.agent}__*):\n{p.text}" in text
        assert planner_version([p]).endswith(f"+{p.version}")


SUITE = "tests/connectors/test_contracts.py"
SUITE_TESTS = (
    "test_same_idempotency_key_twice_is_one_effect",
    "test_compensation_restores_the_prior_state",
    "test_compensating_twice_changes_nothing_more",
)
CONTRACTS: dict[str, str] = {
    # every reversible operation -> the test that holds its compensation to its connector's contract;
    # SUITE: a case of the parametrised connector contract suite (tests/connectors/contract_cases/)
    **dict.fromkeys(
        [
            "bookkeeping.record_expense",
            "bookkeeping.record_income",
            "bookkeeping.create_invoice",
            "bookkeeping.mark_paid",
            "crm.add_customer",
            "crm.update_customer",
            "crm.add_deal",
            "crm.move_deal",
            "crm.log_activity",
            "drafts.create_draft",
            "drafts.edit_draft",
            "calendar.create_event",
            "research.research",
        ],
        SUITE,
    ),
    **dict.fromkeys(
        ["knowledge.remember", "knowledge.forget"],
        "tests/test_memory_chat.py::test_remember_recall_forget_and_undo",
    ),
    **dict.fromkeys(
        ["tasks.add_task", "tasks.complete_task", "tasks.reopen_task", "tasks.delete_task"],
        "tests/agents/test_conformance.py::test_a_workspace_compensation_restores_the_prior_state",
    ),
    "trust.set_level": "tests/trust/test_engine_trust.py::test_undoing_a_level_change_restores_the_level_before",
    "playbooks.save": "tests/playbooks/test_shipped.py::test_pasted_yaml_becomes_a_card_with_the_diff_and_approving_stores_a_new_version",
}


def _functions(path: str) -> set[str]:
    return {
        n.name
        for n in ast.walk(ast.parse((ROOT / path).read_text()))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_reversible_operation_has_a_compensation_and_a_contract_case(specs: list[AgentSpec]) -> None:
    from tests.connectors.contract_cases import all_cases

    reversible = {op.key for s in specs for op in s.operations if op.side_effect is SideEffect.REVERSIBLE}
    assert all(op.compensate is not None for s in specs for op in s.operations if op.key in reversible)
    assert reversible - set(CONTRACTS) == set(), "reversible operations with no contract case"
    assert set(CONTRACTS) - reversible == set(), "contract cases of operations that are not reversible"
    # an operation mapped to the suite is one of its cases, and the suite runs all three checks on it
    cases = [c.key for c in all_cases()]
    assert len(cases) == len(set(cases)), "an operation has two cases in the contract suite"
    in_suite = {op for op, case in CONTRACTS.items() if case == SUITE}
    assert in_suite - set(cases) == set(), "operations mapped to the contract suite with no case in it"
    assert set(cases) - reversible == set(), "contract suite cases of operations that are not reversible"
    assert set(SUITE_TESTS) <= _functions(SUITE), f"{SUITE} lost one of {SUITE_TESTS}"
    for case in set(CONTRACTS.values()) - {SUITE}:
        path, test = case.split("::")
        assert test in _functions(path), f"{case} does not exist"


# The generic contract for operations whose only connector is the workspace (SQL): the same key twice
# is one effect (the executor's event log; here: the operation's own rows), and the compensation of
# what it recorded restores every row it touched.
WORKSPACE_CASES: dict[str, tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]] = {
    "tasks.add_task": ([], {"text": "call Priya tomorrow"}),
    "tasks.complete_task": ([("tasks.add_task", {"text": "order ink friday"})], {"task_id": 1}),
    "tasks.reopen_task": (
        [("tasks.add_task", {"text": "renew domain"}), ("tasks.complete_task", {"task_id": 1})],
        {"task_id": 1},
    ),
    "tasks.delete_task": ([("tasks.add_task", {"text": "file taxes"})], {"task_id": 1}),
}


def _rows(engine: Any) -> dict[str, list[dict[str, Any]]]:
    from sqlmodel import Session, select

    from memory.job_tables import Job
    from memory.tables import Task

    with Session(engine) as s:
        return {
            "tasks": [
                t.model_dump(exclude={"updated_at", "reminder_job"}) for t in s.exec(select(Task)).all()
            ],
            "queued": [j.id for j in s.exec(select(Job).where(Job.status == "queued")).all()],
        }


@pytest.mark.parametrize("key", list(WORKSPACE_CASES))
def test_a_workspace_compensation_restores_the_prior_state(tmp_path: Path, key: str) -> None:
    import uuid

    from agents.catalog import registry_of
    from agents.contract import ExecContext
    from memory.db import make_engine, transaction

    registry = registry_of(catalog.build_specs())
    seed, args = WORKSPACE_CASES[key]
    engine = make_engine(f"sqlite:///{tmp_path / 'contract.sqlite'}")
    try:

        def run(k: str, a: dict[str, Any]) -> Any:
            op = registry.get(k)
            with transaction(engine) as s:
                ctx = ExecContext(s, "run_c", "test", uuid.uuid4().hex, conversation="test:C1")
                return op.execute(ctx, op.args.model_validate(a))

        for k, a in seed:
            run(k, a)
        before = _rows(engine)
        done = run(key, args)
        assert _rows(engine) != before, f"{key} changed nothing"
        op = registry.get(key)
        assert op.compensate is not None and done.compensation is not None
        with transaction(engine) as s:
            op.compensate(ExecContext(s, "run_c", "test", f"undo:{uuid.uuid4().hex}"), done.compensation)
        after = _rows(engine)
        if key == "tasks.add_task":  # undoing an add cancels the task (the row stays, as the log does)
            assert [t["status"] for t in after["tasks"]] == ["cancelled"]
        else:
            assert after["tasks"] == before["tasks"]
    finally:
        engine.dispose()


def test_doctor_checks_and_digest_sections_come_from_the_specs(
    specs: list[AgentSpec], tmp_path: Path
) -> None:
    from memory.db import make_engine

    assert {s.name for s in specs if s.doctor} == {"calendar"}
    assert [sec.title for s in specs for sec in s.digest] == ["Upcoming"]  # tasks' needs a database
    engine = make_engine(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    try:
        with_db = catalog.build_specs(Deps(db=engine))
        # the digest's order: tasks, the calendar (not set up here: it says so), what ran without asking
        assert [sec.title for s in with_db for sec in s.digest] == ["Open tasks", "Upcoming", "Ran without asking"]
        assert not any(s.doctor for s in with_db)
    finally:
        engine.dispose()
