"""Driving one run through the graph: one drive at a time per run, traced, its status and reply stored.

The engine's verbs (graph/engine.py) decide *what* to run; the driver runs it: it streams the graph
with the run's telemetry (graph/telemetry.py), stores the run's status (memory/runs.py) and the reply as
the conversation's next turn (memory/conversations.py), and turns a failure into one sentence: the
error's own message when it carries one for the user, else an error id (graph/errors.py).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from langgraph.types import Command

from graph import outcomes as o
from graph.approvals import ApprovalStore
from graph.budget import BudgetLedger
from graph.context import Assembled, ContextBuilder
from graph.errors import unexpected_text, user_message
from graph.limits import Limits
from graph.nodes import GraphDeps
from graph.planner import Plan
from graph.state import RunState
from graph.telemetry import Steps, Telemetry
from graph.trace import Crumb
from memory.conversations import Conversations
from memory.retrievals import Retrieval
from memory.runs import RunStore, record_plan_in
from memory.tables import Approval, Run

log = logging.getLogger(__name__)


def final_status(state: RunState) -> tuple[str, str | None]:
    """Return a finished run's status and error: ``failed`` when any of its actions failed."""
    failed = [r for r in state.results if not r.ok]
    return ("failed", failed[0].text[:300]) if failed else ("done", None)


def initial_state(run: Run) -> RunState:
    """Return the state a run starts from."""
    return RunState(
        run_id=run.id,
        conversation=run.conversation,
        channel=run.channel,
        actor=run.actor,
        text=run.input,
        deciders=list(run.deciders),
        untrusted=run.untrusted,
    )


class Driver:
    """Runs the graph for one run at a time per run id, and records what came of it."""

    def __init__(
        self,
        *,
        graph: Any,  # the compiled graph (graph/builder.py)
        runs: RunStore,
        conversations: Conversations,
        budget: BudgetLedger,
        telemetry: Telemetry,
        approvals: ApprovalStore,
        limits: Limits,
        context: ContextBuilder | None,
        history: Callable[[str, int], list[tuple[str, str]]],
        on_finished: Callable[[RunState], None] | None,
    ) -> None:
        self.graph = graph
        self.runs = runs
        self.conversations = conversations
        self.budget = budget
        self.telemetry = telemetry
        self.approvals = approvals
        self.limits = limits
        self.context = context
        self.history = history
        self.on_finished = on_finished
        self.deps: GraphDeps | None = None  # set by the engine, which builds the graph's dependencies
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()

    def _lock(self, run_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(run_id)
            if lock is None:
                lock = self._locks[run_id] = threading.Lock()
            return lock

    def drive(
        self, run_id: str, graph_input: Any, config: dict[str, Any] | None = None, run: Run | None = None
    ) -> list[o.Outcome]:
        """Run the graph from ``graph_input`` (a state, None to continue, a resume ``Command``); report."""
        return self.drive_state(run_id, graph_input, config, run=run)[0]

    def drive_state(
        self,
        run_id: str,
        graph_input: Any,
        config: dict[str, Any] | None = None,
        run: Run | None = None,
        decided: Mapping[str, Approval] | None = None,
    ) -> tuple[list[o.Outcome], RunState | None]:
        """Run the graph from ``graph_input`` (a state, None to continue, a resume ``Command``); report.

        Args:
            run_id: The run.
            graph_input: Where to start from.
            config: The graph's config (a checkpoint to start again from); None: the run's thread.
            run: The run just stored as ``running`` (a new submission): not read and marked again.
            decided: The run's approvals as read after they were all decided (a resume): the approve
                node takes them instead of reading them again (``GraphDeps.decided``).

        Returns:
            The outcomes, and the run's state where the drive left it (None when the drive failed with
            an exception or another drive resumed the run first).
        """
        config = config or {"configurable": {"thread_id": run_id}}
        deps = self.deps if decided is None or self.deps is None else dataclasses.replace(self.deps, decided=decided)
        with self._lock(run_id):
            if isinstance(graph_input, Command) and not self.graph.get_state(config).interrupts:
                return [], None  # someone else resumed it already
            run = run if run is not None and run.status == "running" else self.runs.begin(run_id)
            conversation = run.conversation if run else ""
            steps: Steps | None = None
            try:
                # The steps' breadcrumbs are written below with the run's status and reply, in one
                # transaction (a drive used to commit each of them on its own).
                with self.telemetry.run(run_id, conversation, record=False) as steps:
                    config = {**config, "recursion_limit": self.limits.max_steps}
                    for task in self.graph.stream(
                        graph_input, config, context=deps, durability="sync", stream_mode="tasks"
                    ):
                        steps.observe(task)
            except Exception as exc:  # noqa: BLE001 - reported to the operator without internals
                return [self._failed(run_id, conversation, exc, steps.crumbs if steps else [])], None
            except BaseException:
                if steps is not None:
                    self.telemetry.crumbs.add_many(steps.crumbs)
                raise
            snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        state = RunState.model_validate(snap.values)
        waiting = bool(snap.interrupts)
        outs = self.outcomes(state, waiting)
        self.runs.finish(
            run_id,
            *(("waiting", None) if waiting else final_status(state)),
            events=self.telemetry.crumbs.rows(steps.crumbs),
            reply=(state.conversation, o.text_of(outs)),
        )
        if not waiting and self.on_finished is not None:
            try:
                self.on_finished(state)
            except Exception:  # noqa: BLE001 - an after-run hook never fails the run it follows
                log.exception("after-run hook failed for run %s", run_id)
        return outs, state

    def _failed(self, run_id: str, conversation: str, exc: Exception, crumbs: list[Crumb]) -> o.Failed:
        """Mark a run failed by an exception; say so in one sentence (a user's message, or an error id)."""
        name, shown = type(exc).__name__, user_message(exc)
        events = self.telemetry.crumbs.rows(crumbs)
        if shown is not None:
            log.exception("run %s failed", run_id)
            self.runs.finish(run_id, "failed", error=name, events=events)
            return o.Failed(run_id, f"Run {run_id} failed ({name}): {shown.rstrip('.')}. It can be retried.")
        self.telemetry.crumbs.add_many(crumbs)  # before the error's own breadcrumb, as the steps came first
        error_id = self.telemetry.unexpected(exc, run_id=run_id, conversation=conversation, where="run")
        self.runs.set_status(run_id, "failed", error=f"{name}, error {error_id}")
        sentence = unexpected_text(error_id, run_id)
        return o.Failed(run_id, f"Run {run_id} failed ({name}). {sentence} It can be retried.")

    def outcomes(self, state: RunState, waiting: bool) -> list[o.Outcome]:
        """Return what a run has to say where it stands (its cards, when it waits: only then read)."""
        if not waiting:
            return o.of_state(state, False, {})
        pending = {a.id: a for a in self.approvals.for_run(state.run_id) if a.status == "pending"}
        return o.of_state(state, True, pending)

    def record_plan(self, state: RunState, plan: Plan) -> None:
        """Record a plan's planner and cost on its run (the graph's ``on_plan``)."""
        if not plan.usage and not plan.planner:
            return
        cost = sum(u.cost_usd for u in plan.usage)
        todo = [u for u in plan.usage if not u.recorded]  # a planner outside the ladder: recorded now
        if not todo:
            self.runs.record_plan(state.run_id, plan.planner, cost)
            return
        for u in todo[:-1]:
            self.budget.record(run_id=state.run_id, agent="planner", usage=u, rung=u.rung)
        last = todo[-1]  # its spend row and the plan on the run commit together
        self.budget.record(
            run_id=state.run_id, agent="planner", usage=last, rung=last.rung,
            also=lambda s: record_plan_in(s, state.run_id, plan.planner, cost),
        )

    def build_context(self, state: RunState) -> Assembled:
        """Assemble the planner's context and record what was retrieved on the run (the graph's ``context``)."""
        assert self.context is not None
        assembled = self.context.build(state.text, self.history(state.conversation, 50))
        rows = [
            Retrieval(run_id=state.run_id, ref=r.ref, rank=i, score=r.score, detail={"trusted": r.trusted, **r.detail})
            for i, r in enumerate(assembled.retrieved, start=1)
        ]
        self.runs.record_context(state.run_id, rows)
        return assembled

    def continue_run(self, run_id: str) -> list[o.Outcome]:
        """Bring an existing run as far as it can go and report where it stands."""
        snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        if snap.interrupts:
            return self.resume_if_ready(run_id) or self.outcomes(RunState.model_validate(snap.values), True)
        if snap.next:
            return self.drive(run_id, None)
        if snap.values:
            return self.outcomes(RunState.model_validate(snap.values), False)
        run = self.runs.get(run_id)
        if run is None:
            return [o.Say(f"There is no run {run_id}.")]
        return self.drive(run_id, initial_state(run))  # lost before its first checkpoint

    def resume_if_ready(self, run_id: str) -> list[o.Outcome]:
        """Resume a waiting run whose approvals are all decided; otherwise do nothing."""
        drove = self.resume_state(run_id)
        return drove[0] if drove is not None else []

    def resume_state(self, run_id: str) -> tuple[list[o.Outcome], RunState | None] | None:
        """Resume a waiting run whose approvals are all decided (``drive_state``'s answer); None: some wait.

        The approvals are read once here: a decided approval never changes again, so the approve node
        is handed these instead of reading them a second time.
        """
        records = self.approvals.for_run(run_id)
        if any(a.status == "pending" for a in records):
            return None
        return self.drive_state(run_id, Command(resume={"run_id": run_id}), decided={a.id: a for a in records})

    def recover(self, channel: str | None) -> list[tuple[str, str, list[o.Outcome]]]:
        """Finish the unfinished runs (of one channel); return (run id, conversation, outcomes) of those with news."""
        done: list[tuple[str, str, list[o.Outcome]]] = []
        for run in self.runs.unfinished(channel):
            snap = self.graph.get_state({"configurable": {"thread_id": run.id}})
            if snap.interrupts:
                outs = self.resume_if_ready(run.id)
            elif snap.next or not snap.values:
                outs = self.continue_run(run.id)
            else:
                self.runs.set_status(run.id, *final_status(RunState.model_validate(snap.values)))
                continue
            if outs:
                done.append((run.id, run.conversation, outs))
        return done
