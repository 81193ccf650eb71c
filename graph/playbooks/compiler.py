"""Compile a playbook to a LangGraph graph: one node per step, in dependency order, a checkpoint after each.

An ``op`` step never performs anything itself: each of its actions is a run of the engine's own graph
(plan → policy → approve → execute) with the action preset, under an id derived from the playbook run,
the step, the item and the attempt. So a playbook reaches exactly what a chat request reaches: the same
typed actions, policy, trust levels and approval cards, and the executor's idempotency keys. Re-running a
step (a crash, a replay) finds the same runs and repeats no effect.

A step whose actions wait for approval is followed by its ``<id>__wait`` node, which interrupts until
the cards are decided. A failed step ends the run with ``failed`` set; Retry and Skip restart it from
the checkpoint before that step (graph/playbooks/runner.py).
"""

from __future__ import annotations

import hashlib
import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.contract import canonical_json
from graph.errors import user_message
from graph.playbooks.queries import Query, QueryContext
from graph.playbooks.schema import Playbook, Step
from graph.playbooks.template import holds, render

log = logging.getLogger(__name__)

WAIT = "__wait"


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {**a, **b}


class PlaybookState(TypedDict, total=False):
    """One playbook run's state (plain values only, so the checkpointer's serializer keeps it)."""

    run_id: str
    playbook: str
    version: int
    conversation: str
    channel: str
    deciders: list[str]
    trigger: dict[str, Any]
    untrusted: bool
    outputs: Annotated[dict[str, Any], _merge]
    messages: Annotated[list[str], operator.add]
    failed: str  # the step that failed ("" when none)
    error: str


@dataclass(frozen=True)
class SubRun:
    """Where one action of an ``op`` step stands, read from its engine run."""

    run_id: str
    waiting: bool
    ok: bool
    text: str
    refused: str = ""
    decision: str = ""
    approval_id: str = ""
    summary: str = ""


class Actions:
    """What an ``op`` step needs from the engine: start a run with a preset action, and read one."""

    def submit(self, run_id: str, state: PlaybookState, step: Step, arguments: dict[str, Any]) -> None:
        """Start (once: a second call with the same id does nothing new) a run of one preset action."""
        raise NotImplementedError

    def read(self, run_id: str, *, drive: bool) -> SubRun:
        """Return where a run stands; with ``drive``, first bring it as far as it can go."""
        raise NotImplementedError


@dataclass
class PlaybookDeps:
    """What the playbook's nodes are handed at run time (LangGraph's runtime context)."""

    actions: Actions
    queries: Mapping[str, Query]
    db: Any
    tz: tzinfo
    clock: Callable[[], datetime]
    # The operator's say on this run, read from its row (not the checkpoint, so a Retry or a Skip
    # replayed from the checkpoint before a step sees it): ``skip`` (step ids), ``attempts`` (per step).
    control: Mapping[str, Any] = field(default_factory=dict)


def sub_run_id(run_id: str, step: str, index: int, attempt: int) -> str:
    """Return the engine run id of one action of a step: the same on every re-run of the step."""
    seed = f"{run_id}:{step}:{index}:{attempt}"
    return "pbs_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def scope(state: PlaybookState) -> dict[str, Any]:
    """Return what templates may read: earlier steps' outputs, the trigger, the playbook and the run."""
    return {
        "steps": dict(state.get("outputs") or {}),
        "trigger": dict(state.get("trigger") or {}),
        "playbook": {"name": state.get("playbook", ""), "version": state.get("version", 1)},
        "run": {"id": state.get("run_id", "")},
    }


def _failure(step: Step, text: str) -> dict[str, Any]:
    return {"failed": step.id, "error": text, "outputs": {step.id: {"ok": False, "error": text}}}


def _items(step: Step, sc: dict[str, Any]) -> list[Any]:
    if step.for_each is None:
        return [None]
    items = render(step.for_each, sc)
    if not isinstance(items, list):
        raise ValueError(f"for_each of step {step.id} is not a list")
    return items


def _scoped(step: Step, sc: dict[str, Any], item: Any) -> dict[str, Any]:
    return {**sc, step.as_: item} if step.for_each is not None else sc


def _op_output(subs: list[SubRun]) -> dict[str, Any]:
    done = [s for s in subs if s.ok and not s.waiting and s.decision != "rejected" and not s.refused]
    return {
        "ok": True,
        "runs": [s.run_id for s in subs],
        "waiting": [s.run_id for s in subs if s.waiting],
        "items": [s.text for s in done],
        "texts": [s.text for s in done],
        "text": "\n".join(s.text for s in done),
        "count": len(done),
        "rejected": sum(1 for s in subs if s.decision == "rejected"),
    }


def _op_problem(step: Step, subs: list[SubRun]) -> str | None:
    refused = [s for s in subs if s.refused]
    if refused:
        return f"Policy refused {step.op}: {refused[0].refused}"
    failed = [s for s in subs if not s.ok and not s.waiting]
    return failed[0].text if failed else None


def _step_node(pb: Playbook, step: Step) -> Callable[..., dict[str, Any]]:
    def node(state: PlaybookState, runtime: Runtime[PlaybookDeps]) -> dict[str, Any]:
        deps = runtime.context
        if step.id in (deps.control.get("skip") or []):
            return {"outputs": {step.id: {"ok": True, "skipped": True, "items": [], "count": 0, "text": ""}}}
        sc = scope(state)
        try:
            if step.when is not None and not holds(step.when, sc):
                return {"outputs": {step.id: {"ok": True, "skipped": True, "items": [], "count": 0, "text": ""}}}
            return _run_step(pb, step, state, sc, deps)
        except Exception as exc:  # noqa: BLE001 - a step's failure stops the run at its checkpoint
            shown = user_message(exc) or (str(exc) if isinstance(exc, LookupError | ValueError) else None)
            if shown is None:
                log.exception("playbook %s step %s failed", pb.name, step.id)
                shown = f"an unexpected error ({type(exc).__name__})"
            return _failure(step, f"Step {step.id} failed: {shown}")

    return node


def _run_step(
    pb: Playbook, step: Step, state: PlaybookState, sc: dict[str, Any], deps: PlaybookDeps
) -> dict[str, Any]:
    if step.message is not None:
        text = str(render(step.message, sc))
        return {"outputs": {step.id: {"ok": True, "text": text}}, "messages": [text]}
    if step.condition is not None:
        return {"outputs": {step.id: {"ok": True, "value": holds(step.condition, sc)}}}
    items = _items(step, sc)
    if step.query is not None:
        query = deps.queries[step.query]
        trigger = {**dict(state.get("trigger") or {}), "run_id": state["run_id"], "conversation": state["conversation"]}
        ctx = QueryContext(deps.db, deps.clock(), deps.tz, trigger)
        values = [query(ctx, render(step.args, _scoped(step, sc, it))) for it in items]
        value = values if step.for_each is not None else values[0]
        listed = value if isinstance(value, list) else [value]
        text = value if isinstance(value, str) else "\n".join(map(str, listed))
        return {"outputs": {step.id: {"ok": True, "value": value, "items": listed, "count": len(listed), "text": text}}}
    assert step.op is not None
    attempt = int((deps.control.get("attempts") or {}).get(step.id, 0))
    subs: list[SubRun] = []
    for i, it in enumerate(items):
        arguments = render(step.args, _scoped(step, sc, it))
        sub = sub_run_id(state["run_id"], step.id, i, attempt)
        deps.actions.submit(sub, state, step, arguments)
        subs.append(deps.actions.read(sub, drive=False))
    problem = _op_problem(step, subs)
    if problem is not None and pb.on_failure == "stop":
        return _failure(step, problem)
    return {"outputs": {step.id: _op_output(subs) | ({"error": problem} if problem else {})}}


def _wait_node(pb: Playbook, step: Step) -> Callable[..., dict[str, Any]]:
    def node(state: PlaybookState, runtime: Runtime[PlaybookDeps]) -> dict[str, Any]:
        deps = runtime.context
        out = dict((state.get("outputs") or {}).get(step.id) or {})
        waiting = list(out.get("waiting") or [])
        if any(deps.actions.read(r, drive=False).waiting for r in waiting):
            interrupt({"run_id": state.get("run_id"), "step": step.id, "runs": waiting})
        subs = [deps.actions.read(r, drive=True) for r in out.get("runs") or []]
        problem = _op_problem(step, subs)
        if problem is not None and pb.on_failure == "stop":
            return _failure(step, problem)
        return {"outputs": {step.id: _op_output(subs) | ({"error": problem} if problem else {})}}

    return node


def compile_playbook(pb: Playbook, checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
    """Return the compiled graph of a playbook (one node per step, ``<id>__wait`` after each op step)."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(PlaybookState, context_schema=PlaybookDeps)
    order = pb.order()
    nexts = {sid: (order[i + 1] if i + 1 < len(order) else END) for i, sid in enumerate(order)}
    for sid in order:
        step = pb.step(sid)
        g.add_node(sid, _step_node(pb, step))  # type: ignore[call-overload]
        after = _router(sid, nexts[sid], has_wait=step.op is not None)
        if step.op is not None:
            g.add_node(sid + WAIT, _wait_node(pb, step))  # type: ignore[call-overload]
            g.add_conditional_edges(sid + WAIT, _after_wait(sid, nexts[sid]))
        g.add_conditional_edges(sid, after)
    g.add_edge(START, order[0])
    return g.compile(checkpointer=checkpointer)


def _router(sid: str, nxt: str, *, has_wait: bool) -> Callable[[PlaybookState], str]:
    def route(state: PlaybookState) -> str:
        if state.get("failed"):
            return END
        out = (state.get("outputs") or {}).get(sid) or {}
        if has_wait and out.get("waiting"):
            return sid + WAIT
        return nxt

    route.__name__ = f"after_{sid}"
    return route


def _after_wait(sid: str, nxt: str) -> Callable[[PlaybookState], str]:
    def route(state: PlaybookState) -> str:
        if state.get("failed"):
            return END
        out = (state.get("outputs") or {}).get(sid) or {}
        return sid + WAIT if out.get("waiting") else nxt

    route.__name__ = f"after_{sid}_wait"
    return route


def preset_text(pb_name: str, step: Step, arguments: dict[str, Any]) -> str:
    """Return the input a playbook's action run records (what `coo runs` and the trace show)."""
    return f"playbook {pb_name} step {step.id}: {step.op} {canonical_json(arguments)}"
