"""The engine: the one facade channels talk to. Runs the graph per request, decides, undoes, recovers.

It keeps the verbs (submit, decide, revise, undo, retry, replay, recover) and asks others for the rest:
runs and turns are stored by memory/runs.py and memory/conversations.py, spend is written only by the
budget ledger (graph/budget.py), steps are traced by graph/telemetry.py, limits are graph/limits.py's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import Engine as SqlEngine
from sqlmodel import Session

from agents.contract import Action, canonical_json
from agents.errors import AgentError
from agents.registry import Registry
from graph import outcomes as o
from graph.approvals import ApprovalStore
from graph.budget import BudgetLedger
from graph.builder import build_graph
from graph.context import ContextBuilder
from graph.driver import Driver, initial_state
from graph.errors import GraphError, NotAllowed, unexpected_text, user_message
from graph.executor import Executor
from graph.faults import NO_FAULTS, Faults
from graph.limits import Limits, RateLimiter, refusal
from graph.nodes import GraphDeps
from graph.planner import Planner
from graph.policy import Policy
from graph.request import Request
from graph.state import Preset, RunState
from graph.telemetry import Telemetry
from graph.trust import TrustKeeper
from memory import eventlog
from memory import trust as trust_store
from memory.conversations import Conversations
from memory.redact import NO_SECRETS, Redactor
from memory.runs import RunStore
from memory.tables import Approval, Run, new_id, utcnow

__all__ = ["Engine", "Request"]

log = logging.getLogger(__name__)
HOURS_24, MINUTES_10 = timedelta(hours=24), timedelta(minutes=10)


class Engine:
    """Runs requests through the graph and turns results into channel-neutral outcomes."""

    def __init__(
        self,
        *,
        db: SqlEngine,
        checkpointer: BaseCheckpointSaver[Any],
        registry: Registry,
        planner: Planner,
        policy: Policy,
        approvals: ApprovalStore,
        history_turns: int = 10,
        redactor: Redactor = NO_SECRETS,
        limits: Limits | None = None,
        faults: Faults = NO_FAULTS,
        context: ContextBuilder | None = None,
        on_finished: Callable[[RunState], None] | None = None,
        on_undone: Callable[[str], None] | None = None,
        budget: BudgetLedger | None = None,
    ) -> None:
        self.db = db
        self.runs = RunStore(db)
        self.conversations = Conversations(db)
        self.limits = limits or Limits()
        self._rate = RateLimiter(self.limits.requests_per_minute)
        self.redactor = redactor
        self.telemetry = Telemetry(db, redactor)
        self.crumbs = self.telemetry.crumbs
        self.registry = registry
        self.approvals = approvals
        self.faults = faults
        self.executor = Executor(db, registry, faults, self.telemetry)
        self.graph = build_graph(checkpointer)
        self.history_turns = history_turns
        self.on_undone = on_undone  # given the run id whose effect was undone (its outcome note goes)
        self.driver = Driver(
            graph=self.graph, runs=self.runs, conversations=self.conversations, telemetry=self.telemetry,
            approvals=approvals, limits=self.limits, context=context, history=self.history,
            on_finished=on_finished, budget=budget or BudgetLedger(db),  # it records a non-ladder planner's calls
        )
        self.deps = self.driver.deps = GraphDeps(
            planner=planner, registry=registry, policy=policy, approvals=approvals, executor=self.executor,
            history=self.history, on_plan=self.driver.record_plan,
            context=self.driver.build_context if context is not None else None,
        )
        self.trust: TrustKeeper | None = None  # graduated autonomy (graph/trust.py), set by the composition root

    def _drive(
        self, run_id: str, graph_input: Any, config: dict[str, Any] | None = None, run: Run | None = None
    ) -> list[o.Outcome]:
        """Drive a run, then add what its failed auto actions change in trust (a demotion's notice)."""
        outs, state = self.driver.drive_state(run_id, graph_input, config, run=run)
        return outs + self._after_run(run_id, state)

    # ---- requests -------------------------------------------------------------------------------

    def submit(self, req: Request, run_id: str | None = None, *, limited: bool = True) -> list[o.Outcome]:
        """Run one request to its end or to its first approval.

        Args:
            req: The request.
            run_id: A run id derived from the platform's delivery id (or a playbook step's); submitting
                the same id again (a redelivery, a restart) continues or reports that run instead of
                starting another.
            limited: Whether the request counts against a person's size and rate limits (a playbook's
                step does not: its operator already approved the playbook, and Policy still decides).
        """
        if run_id is not None and self.runs.get(run_id) is not None:
            return self.continue_run(run_id)
        refused = refusal(self.limits, self._rate, req.actor, req.text) if limited else None
        if refused is not None:
            return [o.Say(refused)]
        # Secrets pasted into chat stop here: nothing downstream (runs, turns, checkpoints, the model,
        # approvals, the workspace) ever holds them.
        req = dataclasses.replace(req, text=self.redactor.text(req.text))
        # Every value given: a defaulted ``list`` field costs pydantic an inspect.signature(list) (~0.2 ms).
        run = Run(
            id=run_id or new_id("run"), conversation=req.conversation, channel=req.channel, actor=req.actor,
            input=req.text, deciders=list(req.deciders), untrusted=req.untrusted, created_at=utcnow(),
        )
        payload = {"text": req.text, "channel": req.channel, "untrusted": req.untrusted}
        crumb = (run.id, run.conversation, "input", f"{run.id}:input", payload, req.actor)
        if not self.runs.start(run, self.crumbs.rows([crumb])):  # the run, its turn and its input: one commit
            return self.continue_run(run.id)  # a concurrent copy of the same delivery won
        state = initial_state(run).model_copy(update={"preset": list(req.preset)})
        return self._drive(run.id, state, run=run)

    def continue_run(self, run_id: str) -> list[o.Outcome]:
        """Bring an existing run as far as it can go and report where it stands."""
        return self.driver.continue_run(run_id) + self._after_run(run_id)

    def _after_run(self, run_id: str, state: RunState | None = None) -> list[o.Outcome]:
        """Return what a run's failed auto actions change in trust (once per failure: safe to ask again).

        ``state``: where the drive just left the run (its results at hand); None: read them (recovery).
        """
        return self.trust.after_run(run_id, state) if self.trust is not None else []

    def resume_if_ready(self, run_id: str) -> list[o.Outcome]:
        """Resume a waiting run whose approvals are all decided; otherwise do nothing."""
        return self.driver.resume_if_ready(run_id)

    def decide(self, approval_id: str, approve: bool, actor: str) -> list[o.Outcome]:
        """Decide an approval once, then resume its run when all its approvals are decided."""
        def crumb(s: Session, ap: Approval) -> None:  # the decision and its breadcrumb commit together
            payload = {"approval_id": ap.id, "decision": ap.status, "by": actor,
                       "action": ap.action.get("idempotency_key")}
            eventlog.append_new(s, self.crumbs.rows(
                [(ap.run_id, ap.conversation, "decision", f"decision:{ap.id}", payload, actor)]))

        try:
            decided = self.approvals.decide(approval_id, approve, actor, also=crumb)
        except GraphError as exc:
            return [o.Notice(str(exc))]
        self.faults.hit("after_approval_recorded")
        ap = decided.approval
        summary = Action.model_validate(ap.action).summary
        out: list[o.Outcome] = [o.Decided(ap.id, decided.decision, actor, ap.decided_at or utcnow(), summary)]
        drove = self.driver.resume_state(ap.run_id)  # None: other approvals of the run still wait
        out += drove[0] if drove is not None else []
        if self.trust is not None:  # a failure may demote its kind; a streak may earn an offer (a card)
            out += self.trust.after_run(ap.run_id, drove[1] if drove is not None else None)
            out += self.trust.after_decision(ap)
        return out

    def revise(
        self, approval_id: str, arguments: dict[str, Any], like: Request, run_id: str | None = None
    ) -> list[o.Outcome]:
        """Replace a pending approval's action by a copy with edited arguments, checked again.

        Invalid arguments change nothing. Otherwise the old approval is closed (rejected by the editor;
        its run ends without effect) and a new run in the same conversation proposes the edited action
        without asking the model, so registry validation and policy decide it afresh: a new card, a
        refusal, or the effect if policy runs it. If the process dies before the new run's first
        checkpoint, recovery plans its input text (``edit of …``) with the normal planner instead.

        Args:
            approval_id: The pending approval to replace.
            arguments: The edited arguments.
            like: Who edits, from which channel (its deciders decide the new card).
            run_id: The new run's id, derived from the platform's delivery id.
        """
        try:
            ap = self.approvals.get(approval_id)
            old = Action.model_validate(ap.action)
            self.registry.propose(old.name, arguments, run_id=run_id or "revise", index=0)
            decided = self.approvals.decide(approval_id, False, like.actor)
        except (GraphError, AgentError) as exc:
            return [o.Notice(f"Nothing was changed: {exc}")]
        closed = o.Decided(ap.id, "edited", like.actor, decided.approval.decided_at or utcnow(), old.summary)
        self.resume_if_ready(ap.run_id)  # ends the old run: "not done", which the edit supersedes
        text = f"edit of {approval_id}: {old.name} {canonical_json(arguments)}"
        if ap.reason.startswith(trust_store.ADVISORY_PREFIX):
            return [closed, self._advisory_edit(old.arguments, replace(like, conversation=ap.conversation, text=text), run_id)]
        preset = (Preset(key=old.name, arguments=arguments),)
        req = replace(like, conversation=ap.conversation, text=text, preset=preset, untrusted=old.untrusted_source)
        return [closed, *self.submit(req, run_id)]

    def _advisory_edit(self, proposed: dict[str, Any], req: Request, run_id: str | None) -> o.Outcome:
        """Record what the operator did instead of an advisory proposal, as a finished run; run nothing.

        The edit is the operator's account of what they did (already done by them), so nothing is
        planned, carded or executed: its run only carries the input the trust record classifies.
        """
        run = Run(conversation=req.conversation, channel=req.channel, actor=req.actor, input=req.text)
        run.id = run_id or run.id
        if self.runs.start(run):
            self.runs.set_status(run.id, "done")
        what = trust_store.classify(proposed, req.text)
        return o.Say(f"Noted what you did: coo's proposal counts as {what}. It did nothing itself (advisory mode).")

    def retry(self, run_id: str, like: Request) -> list[o.Outcome]:
        """Retry a failed run once: where it stopped, its failed actions, or its input as a new run.

        A run cut off mid-graph continues from its last checkpoint; a run whose approved actions
        failed executes them again from its checkpoint before ``execute`` (same actions, same
        idempotency keys, no new card); a run that never got that far is submitted again as a new
        run (same conversation, the retrying actor). The failed run becomes ``retried`` in one
        conditional UPDATE, so a double click retries once.
        """
        claimed, run = self.runs.claim_retry(run_id)
        if run is None:
            return [o.Notice(f"There is no run {run_id}.")]
        if not claimed:
            if run.status in ("retried", "running") or eventlog.recorded(self.db, f"{run_id}:retried"):
                return [o.Notice(f"Run {run_id} was already retried.")]
            return [o.Notice(f"Run {run_id} did not fail ({run.status}); nothing to retry.")]
        self.crumbs.add(run_id=run_id, conversation=run.conversation, kind="retry", key=f"{run_id}:retried",
                        actor=like.actor, payload={"by": like.actor})
        snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        if snap.next:
            return self.replay(run_id)  # same inputs, from its last checkpoint
        if snap.values and any(not r.ok for r in RunState.model_validate(snap.values).results):
            # An approved action failed: execute it again as approved, under the same idempotency
            # keys (what did succeed is reported, not repeated), without asking again.
            return self.replay(run_id, from_step="execute")
        again = Request(run.channel, run.conversation, like.actor, run.input, deciders=like.deciders)
        return self.submit(again)

    def replay(self, run_id: str, from_step: str | None = None) -> list[o.Outcome]:
        """Re-run a run from a checkpoint with the same inputs; done effects are not repeated (idempotency keys).

        Args:
            run_id: The run.
            from_step: A node name (plan, policy, approve, execute, respond): start again before the most
                recent time that node was next. None: continue from the last checkpoint.
        """
        config: dict[str, Any] = {"configurable": {"thread_id": run_id}}
        if from_step is not None:
            for snap in self.graph.get_state_history(config):
                if from_step in snap.next:
                    config = snap.config
                    break
            else:
                return [o.Say(f"Run {run_id} has no checkpoint before step {from_step!r}.")]
        return self._drive(run_id, None, config)

    def undo(self, event_id: str, actor: str, allowed: Callable[[str], bool]) -> list[o.Outcome]:
        """Undo an effect by its compensation, once."""
        if not allowed(actor):
            return [o.Notice(str(NotAllowed("You are not allowed to undo actions.")))]
        try:
            res = self.executor.undo(event_id, run_id=f"undo:{event_id}", actor=actor)
        except Exception as exc:  # noqa: BLE001 - a user's message is shown; anything else gets an id
            shown = user_message(exc)
            if shown is not None:
                return [o.Notice(shown)]
            run_id = eventlog.run_of(self.db, event_id) or f"undo:{event_id}"
            conversation = eventlog.conversation_of(self.db, event_id) or ""
            error_id = self.telemetry.unexpected(exc, run_id=run_id, conversation=conversation, where="undo")
            return [o.Notice(f"Undo failed. {unexpected_text(error_id, run_id)}")]
        if self.on_undone is not None:
            try:
                if (undone_run := eventlog.run_of(self.db, res.event_id)) is not None:
                    self.on_undone(undone_run)
            except Exception:  # noqa: BLE001 - an after-undo hook never fails the undo it follows
                log.exception("after-undo hook failed for %s", res.event_id)
        demoted = self.trust.after_undo(res.event_id) if self.trust is not None else []
        return [o.Undone(res.event_id, res.text), *demoted]

    # ---- reading --------------------------------------------------------------------------------

    def history(self, conversation: str, limit: int | None = None) -> list[tuple[str, str]]:
        """Return the conversation's recent turns, oldest first (the run's own input excluded)."""
        return self.conversations.recent(conversation, limit or self.history_turns)

    def pending(self, conversation: str | None = None) -> list[o.Ask]:
        """Return the cards still waiting for a decision."""
        return [
            o.Ask(ap.id, ap.run_id, Action.model_validate(ap.action), ap.reason, ap.expires_at)
            for ap in self.approvals.pending(conversation)
        ]

    def recover(self, channel: str | None = None) -> list[tuple[str, list[o.Outcome]]]:
        """Finish what a crash interrupted: decided-but-not-resumed runs and runs cut off mid-step.

        Args:
            channel: Only runs that came from this channel (each channel delivers its own outcomes).
        """
        return [(conversation, outs) for _run, conversation, outs in self.recover_runs(channel)]

    def recover_runs(self, channel: str | None = None) -> list[tuple[str, str, list[o.Outcome]]]:
        """Do what `recover` does; return (run id, conversation, outcomes) per run that has something to say."""
        for ap in self.approvals.expire_overdue():
            log.info("approval %s expired", ap.id)
        # A run finished here (an approved or auto action executed after a restart) is checked like any
        # other: a failed auto action in it demotes its kind.
        return [(run_id, conv, outs + self._after_run(run_id)) for run_id, conv, outs in self.driver.recover(channel)]

    def checkpoint_of(self, run_id: str) -> str:
        """Return the id of a run's latest checkpoint ("" before its first): what a report of it is a report of."""
        snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        return str((snap.config or {}).get("configurable", {}).get("checkpoint_id") or "")

    def spend(self) -> dict[str, float]:
        """Return today's and this month's model spend in USD."""
        return self.runs.spend(date.today())

    def stuck(
        self, now: datetime | None = None, waiting_after: timedelta = HOURS_24, running_after: timedelta = MINUTES_10
    ) -> list[tuple[Run, str]]:
        """Find runs stuck waiting for a decision, or dead while executing, with the reason."""
        return self.runs.stuck(now or utcnow(), waiting_after, running_after)

    def status(self) -> dict[str, Any]:
        """Return counts for /status: runs in flight, pending approvals, recent failures, stuck runs."""
        return {**self.runs.counts(), "stuck": self.stuck()}
