"""The graph's nodes: plan → policy → approve → execute → respond. Each is thin; services do the work."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlmodel import Session

from agents.errors import AgentError, InvalidArguments, PrecheckFailed
from agents.registry import Registry
from graph.approvals import ApprovalStore
from graph.context import Assembled
from graph.executor import Executor
from graph.planner import Plan, Planner, PlanRequest, RawProposal
from graph.policy import Policy
from graph.state import Decision, Proposal, RunState
from memory.tables import Approval

MAX_PROPOSALS = 10  # a request that asks for more is more likely an attack than a plan


@dataclass
class GraphDeps:
    """What nodes are handed at run time (LangGraph's runtime context)."""

    planner: Planner
    registry: Registry
    policy: Policy
    approvals: ApprovalStore
    executor: Executor
    history: Callable[[str], list[tuple[str, str]]]
    on_plan: Callable[[RunState, Plan], None]
    context: Callable[[RunState], Assembled] | None = None
    # The run's approvals as this drive read them once all were decided (a resume; None otherwise).
    decided: Mapping[str, Approval] | None = None

    def approval_records(self, run_id: str, ids: list[str]) -> Mapping[str, Approval]:
        """Return a run's approvals by id: those handed in when they hold every id, decided; else a read.

        A decided approval never changes again, so what the resuming driver read is what a read now
        returns; anything less (an id missing or pending) is read from the database, the authority.
        """
        got = self.decided
        if got is not None and all(i in got and got[i].run_id == run_id and got[i].status != "pending" for i in ids):
            return got
        return {a.id: a for a in self.approvals.for_run(run_id)}


def plan(state: RunState, runtime: Runtime[GraphDeps]) -> dict[str, Any]:
    """Ask the planner and validate what it proposes against the registry."""
    deps = runtime.context
    if state.preset:  # the operator's edit: validated and policed like any proposal, but not planned
        result = Plan(proposals=[RawProposal(p.key, p.arguments) for p in state.preset], planner="edit")
        untrusted = state.untrusted
    else:
        assembled = deps.context(state) if deps.context is not None else None
        request = PlanRequest(
            text=state.text,
            actor=state.actor,
            history=assembled.history if assembled else deps.history(state.conversation),
            context=assembled.text if assembled else "",
            run_id=state.run_id,
            untrusted=state.untrusted,
        )
        untrusted = state.untrusted or bool(assembled and assembled.untrusted)
        result = deps.planner.plan(request)
    deps.on_plan(state, result)
    proposals = []
    for i, raw in enumerate(result.proposals):
        if i >= MAX_PROPOSALS:
            proposals.append(
                Proposal(
                    key=raw.key, verdict="deny", reason=f"more than {MAX_PROPOSALS} actions in one request"
                )
            )
            continue
        try:
            key, arguments = raw.key, raw.arguments
            if deps.registry.expands(key):  # e.g. `send draft 2` becomes the email it stands for
                with Session(deps.executor.engine) as s:  # a read: safe if the node runs again
                    key, arguments = deps.registry.expand(key, arguments, s)
            action = deps.registry.propose(
                key, arguments, run_id=state.run_id, index=i, untrusted=untrusted, internal=bool(state.preset)
            )
            if deps.registry.prechecks(action.name):  # known before approval: refused instead of a card
                with Session(deps.executor.engine) as s:  # a read: safe if the node runs again
                    deps.registry.precheck(action, s)
            proposals.append(Proposal(key=action.name, action=action))
        except PrecheckFailed as exc:
            proposals.append(Proposal(key=raw.key, verdict="deny", reason=str(exc), prechecked=True))
        except InvalidArguments as exc:  # a sentence of its own (``whole``) is shown as it is
            proposals.append(Proposal(key=raw.key, verdict="deny", reason=str(exc), prechecked=exc.whole))
        except AgentError as exc:
            proposals.append(Proposal(key=raw.key, verdict="deny", reason=str(exc)))
    usage = [dataclasses.asdict(u) for u in result.usage]
    return {
        "proposals": proposals,
        "reply": result.reply,
        "offers": list(result.offers),
        "planner": result.planner,
        "usage": usage,
        "untrusted": untrusted,
    }


def policy(state: RunState, runtime: Runtime[GraphDeps]) -> dict[str, Any]:
    """Give each proposal its verdict; create (idempotently) an approval record for each ask."""
    deps = runtime.context
    out = []
    for p in state.proposals:
        if p.action is None or p.verdict == "deny":
            out.append(p)
            continue
        d = deps.policy.decide(p.action)
        approval_id = None
        if d.verdict == "ask":
            approval_id = deps.approvals.ensure(
                run_id=state.run_id,
                conversation=state.conversation,
                action=p.action,
                reason=d.reason,
                deciders=state.deciders,
            ).id
        out.append(
            p.model_copy(
                update={"verdict": d.verdict, "reason": d.reason, "approval_id": approval_id, "advisory": d.advisory}
            )
        )
    return {"proposals": out}


def approve(state: RunState, runtime: Runtime[GraphDeps]) -> dict[str, Any]:
    """Wait for the operator. No side effects here: this node re-runs from the top on resume.

    The resume value only wakes the node; the approval records are the authority.
    """
    asks = [p for p in state.proposals if p.verdict == "ask" and p.approval_id]
    interrupt({"run_id": state.run_id, "approvals": [p.approval_id for p in asks]})
    records = runtime.context.approval_records(state.run_id, [p.approval_id for p in asks if p.approval_id])
    decisions: dict[str, Decision] = {}
    for p in asks:
        assert p.approval_id is not None and p.action is not None
        rec = records.get(p.approval_id)
        status: Decision = "rejected"
        if rec is not None and rec.status in ("approved", "rejected", "expired"):
            status = rec.status  # type: ignore[assignment]
        if status == "approved" and rec is not None and rec.action_hash != p.action.digest():
            status = "rejected"  # the approval was for a different action
        decisions[p.approval_id] = status
    return {"decisions": decisions}


def execute(state: RunState, runtime: Runtime[GraphDeps]) -> dict[str, Any]:
    """Perform every action that policy allowed or the operator approved, each exactly once."""
    deps = runtime.context
    results = []
    for p in state.proposals:
        if p.action is None or p.advisory:
            continue  # an advisory proposal is never performed by coo, whatever the operator answered
        allowed = p.verdict == "run" or (
            p.verdict == "ask"
            and p.approval_id is not None
            and state.decisions.get(p.approval_id) == "approved"
        )
        if allowed:
            results.append(
                deps.executor.execute(
                    p.action, run_id=state.run_id, conversation=state.conversation, actor=state.actor
                )
            )
    return {"results": results}


def respond(state: RunState) -> dict[str, Any]:
    """Close the run with a reply when nothing else was said."""
    if not state.proposals and not state.reply:
        return {"reply": "Nothing to do."}
    return {}


def after_policy(state: RunState) -> Literal["approve", "execute", "respond"]:
    """Route to approval when anything needs asking, else straight on."""
    if any(p.verdict == "ask" for p in state.proposals):
        return "approve"
    if any(p.verdict == "run" for p in state.proposals):
        return "execute"
    return "respond"


def after_approve(state: RunState) -> Literal["execute", "respond"]:
    """Execute if anything may run."""
    if any(p.verdict == "run" for p in state.proposals) or "approved" in state.decisions.values():
        return "execute"
    return "respond"
