"""The engine: the one facade channels talk to. Runs the graph per request, decides, undoes, recovers."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command
from opentelemetry import trace as otel_trace
from sqlalchemy import func, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agents.contract import Action, canonical_json
from agents.errors import AgentError
from agents.registry import Registry
from graph import outcomes as o
from graph.approvals import ApprovalStore
from graph.builder import build_graph
from graph.context import Assembled, ContextBuilder
from graph.errors import GraphError, NotAllowed
from graph.executor import Executor
from graph.faults import NO_FAULTS, Faults
from graph.limits import Limits, RateLimiter
from graph.nodes import GraphDeps
from graph.planner import Plan, Planner
from graph.policy import Policy
from graph.state import Preset, RunState
from graph.trace import Breadcrumbs, Crumb, run_id_var, thread_var
from memory import eventlog, retrievals
from memory.db import transaction
from memory.redact import NO_SECRETS, Redactor
from memory.tables import Approval, Run, Spend, Turn, utcnow

log = logging.getLogger(__name__)
tracer = otel_trace.get_tracer("coo.engine")


@contextmanager
def _finally(fn: Callable[[], None]) -> Iterator[None]:
    """Run ``fn`` when the block ends, however it ends (breadcrumbs are written once per drive)."""
    try:
        yield
    finally:
        fn()


def _final_status(state: RunState) -> tuple[str, str | None]:
    """Return a finished run's status and error: ``failed`` when any of its actions failed."""
    failed = [r for r in state.results if not r.ok]
    if failed:
        return "failed", failed[0].text[:300]
    return "done", None


@dataclass(frozen=True)
class Request:
    """One message to the engine, already verified by its channel.

    Attributes:
        channel: ``console``, ``slack`` or ``telegram``.
        conversation: The conversation key (Slack channel+thread, Telegram chat+topic, console session).
        actor: Who sent it, as ``channel:user``.
        text: What they said.
        deciders: Who may decide the approvals this request leads to.
        untrusted: Whether the text came from outside the operator (a webhook, an email).
        preset: Proposals fixed in advance (an edited card), planned without the model.
    """

    channel: str
    conversation: str
    actor: str
    text: str
    deciders: Sequence[str] = field(default_factory=tuple)
    untrusted: bool = False
    preset: Sequence[Preset] = field(default_factory=tuple)


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
    ) -> None:
        self.db = db
        self.limits = limits or Limits()
        self._rate = RateLimiter(self.limits.requests_per_minute)
        self.redactor = redactor
        self.crumbs = Breadcrumbs(db, redactor)
        self.registry = registry
        self.approvals = approvals
        self.faults = faults
        self.executor = Executor(db, registry, faults)
        self.graph = build_graph(checkpointer)
        self.history_turns = history_turns
        self.context = context
        self.on_finished = on_finished
        self.on_undone = on_undone  # given the run id whose effect was undone (its outcome note goes)
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self.deps = GraphDeps(
            planner=planner,
            registry=registry,
            policy=policy,
            approvals=approvals,
            executor=self.executor,
            history=self.history,
            on_plan=self._record_plan,
            context=self._build_context if context is not None else None,
        )

    # ---- requests -------------------------------------------------------------------------------

    def submit(self, req: Request, run_id: str | None = None) -> list[o.Outcome]:
        """Run one request to its end or to its first approval.

        Args:
            req: The request.
            run_id: A run id derived from the platform's delivery id; submitting the same id again
                (a redelivery, a restart) continues or reports that run instead of starting another.
        """
        if run_id is not None:
            with Session(self.db) as s:
                if s.get(Run, run_id) is not None:
                    return self.continue_run(run_id)
        if len(req.text) > self.limits.max_input_chars:
            return [
                o.Say(
                    f"That message is too long ({len(req.text):,} characters; the limit is "
                    f"{self.limits.max_input_chars:,}). Nothing was done."
                )
            ]
        if not self._rate.allow(req.actor):
            return [
                o.Say("You are sending requests faster than I take them; wait a minute. Nothing was done.")
            ]
        # Secrets pasted into chat stop here: nothing downstream (runs, turns, checkpoints, the model,
        # approvals, the workspace) ever holds them.
        req = dataclasses.replace(req, text=self.redactor.text(req.text))
        run = Run(
            conversation=req.conversation,
            channel=req.channel,
            actor=req.actor,
            input=req.text,
            deciders=list(req.deciders),
            untrusted=req.untrusted,
        )
        if run_id is not None:
            run.id = run_id
        try:
            with transaction(self.db) as s:
                s.add(run)
                s.add(Turn(conversation=req.conversation, role="user", text=req.text))
        except IntegrityError:
            return self.continue_run(run.id)  # a concurrent copy of the same delivery won
        self.crumbs.add(
            run_id=run.id,
            conversation=run.conversation,
            kind="input",
            key=f"{run.id}:input",
            actor=req.actor,
            payload={"text": req.text, "channel": req.channel, "untrusted": req.untrusted},
        )
        state = self._initial_state(run).model_copy(update={"preset": list(req.preset)})
        return self._drive(run.id, state)

    def _initial_state(self, run: Run) -> RunState:
        return RunState(
            run_id=run.id,
            conversation=run.conversation,
            channel=run.channel,
            actor=run.actor,
            text=run.input,
            deciders=list(run.deciders),
            untrusted=run.untrusted,
        )

    def continue_run(self, run_id: str) -> list[o.Outcome]:
        """Bring an existing run as far as it can go and report where it stands."""
        config = {"configurable": {"thread_id": run_id}}
        snap = self.graph.get_state(config)
        if snap.interrupts:
            return self.resume_if_ready(run_id) or self._outcomes(RunState.model_validate(snap.values), True)
        if snap.next:
            return self._drive(run_id, None)
        if snap.values:
            return self._outcomes(RunState.model_validate(snap.values), False)
        with Session(self.db) as s:
            run = s.get(Run, run_id)
        if run is None:
            return [o.Say(f"There is no run {run_id}.")]
        return self._drive(run_id, self._initial_state(run))  # lost before its first checkpoint

    def decide(self, approval_id: str, approve: bool, actor: str) -> list[o.Outcome]:
        """Decide an approval once, then resume its run when all its approvals are decided."""
        try:
            decided = self.approvals.decide(approval_id, approve, actor)
        except GraphError as exc:
            return [o.Notice(str(exc))]
        self.faults.hit("after_approval_recorded")
        ap = decided.approval
        summary = Action.model_validate(ap.action).summary
        self.crumbs.add(
            run_id=ap.run_id,
            conversation=ap.conversation,
            kind="decision",
            key=f"decision:{ap.id}",
            actor=actor,
            payload={
                "approval_id": ap.id,
                "decision": decided.decision,
                "by": actor,
                "action": ap.action.get("idempotency_key"),
            },
        )
        out: list[o.Outcome] = [o.Decided(ap.id, decided.decision, actor, ap.decided_at or utcnow(), summary)]
        return out + self.resume_if_ready(ap.run_id)

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
        preset = (Preset(key=old.name, arguments=arguments),)
        req = replace(
            like, conversation=ap.conversation, text=text, preset=preset, untrusted=old.untrusted_source
        )
        return [closed, *self.submit(req, run_id)]

    def retry(self, run_id: str, like: Request) -> list[o.Outcome]:
        """Retry a failed run once: where it stopped, its failed actions, or its input as a new run.

        A run cut off mid-graph continues from its last checkpoint; a run whose approved actions
        failed executes them again from its checkpoint before ``execute`` (same actions, same
        idempotency keys, no new card); a run that never got that far is submitted again as a new
        run (same conversation, the retrying actor). The failed run becomes ``retried`` in one
        conditional UPDATE, so a double click retries once.
        """
        with transaction(self.db) as s:
            claimed = s.execute(
                update(Run).where(col(Run.id) == run_id, col(Run.status) == "failed").values(status="retried")
            ).rowcount  # type: ignore[attr-defined]
            run = s.get(Run, run_id)
        if run is None:
            return [o.Notice(f"There is no run {run_id}.")]
        if not claimed:
            if run.status in ("retried", "running") or self._was_retried(run_id):
                return [o.Notice(f"Run {run_id} was already retried.")]
            return [o.Notice(f"Run {run_id} did not fail ({run.status}); nothing to retry.")]
        self.crumbs.add(
            run_id=run_id,
            conversation=run.conversation,
            kind="retry",
            key=f"{run_id}:retried",
            actor=like.actor,
            payload={"by": like.actor},
        )
        snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        if snap.next:
            return self.replay(run_id)  # same inputs, from its last checkpoint
        if snap.values and any(not r.ok for r in RunState.model_validate(snap.values).results):
            # An approved action failed: execute it again as approved, under the same idempotency
            # keys (what did succeed is reported, not repeated), without asking again.
            return self.replay(run_id, from_step="execute")
        return self.submit(
            Request(
                channel=run.channel,
                conversation=run.conversation,
                actor=like.actor,
                text=run.input,
                deciders=like.deciders,
            )
        )

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

    def _was_retried(self, run_id: str) -> bool:
        with Session(self.db) as s:
            return eventlog.by_key(s, f"{run_id}:retried") is not None

    def resume_if_ready(self, run_id: str) -> list[o.Outcome]:
        """Resume a waiting run whose approvals are all decided; otherwise do nothing."""
        if any(a.status == "pending" for a in self.approvals.for_run(run_id)):
            return []
        return self._drive(run_id, Command(resume={"run_id": run_id}))

    def undo(self, event_id: str, actor: str, allowed: Callable[[str], bool]) -> list[o.Outcome]:
        """Undo an effect by its compensation, once."""
        if not allowed(actor):
            return [o.Notice(str(NotAllowed("You are not allowed to undo actions.")))]
        try:
            res = self.executor.undo(event_id, run_id=f"undo:{event_id}", actor=actor)
        except (GraphError, Exception) as exc:  # noqa: BLE001 - agent errors are user-safe; others are logged
            if not isinstance(exc, GraphError) and exc.__class__.__module__.split(".")[0] not in ("agents",):
                log.exception("undo of %s failed", event_id)
                return [o.Notice("Undo failed; the error was logged.")]
            return [o.Notice(str(exc))]
        if self.on_undone is not None:
            with Session(self.db) as s:
                ev = eventlog.get(s, res.event_id)
            try:
                if ev is not None:
                    self.on_undone(ev.run_id)
            except Exception:  # noqa: BLE001 - an after-undo hook never fails the undo it follows
                log.exception("after-undo hook failed for %s", res.event_id)
        return [o.Undone(res.event_id, res.text)]

    # ---- the graph ------------------------------------------------------------------------------

    def _lock(self, run_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(run_id)
            if lock is None:
                lock = threading.Lock()
                self._locks[run_id] = lock
            return lock

    def _drive(self, run_id: str, graph_input: Any, config: dict[str, Any] | None = None) -> list[o.Outcome]:
        config = config or {"configurable": {"thread_id": run_id}}
        lock = self._lock(run_id)
        with lock:
            if isinstance(graph_input, Command):
                snap = self.graph.get_state(config)
                if not snap.interrupts:
                    return []  # someone else resumed it already
            self._finish(run_id, "running")
            try:
                self._stream(run_id, graph_input, config)
            except Exception as exc:  # noqa: BLE001 - reported to the operator without internals
                log.exception("run %s failed", run_id)
                self._finish(run_id, "failed", error=f"{type(exc).__name__}")
                return [o.Failed(run_id, f"Run {run_id} failed ({type(exc).__name__}). It can be retried.")]
            snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        state = RunState.model_validate(snap.values)
        waiting = bool(snap.interrupts)
        outs = self._outcomes(state, waiting)
        if waiting:
            self._finish(run_id, "waiting")
        else:
            self._finish(run_id, *_final_status(state))
        self._remember_reply(state.conversation, outs)
        if not waiting and self.on_finished is not None:
            try:
                self.on_finished(state)
            except Exception:  # noqa: BLE001 - an after-run hook never fails the run it follows
                log.exception("after-run hook failed for run %s", run_id)
        return outs

    def _stream(self, run_id: str, graph_input: Any, config: dict[str, Any]) -> None:
        """Run the graph, recording a breadcrumb (and a span, when tracing is on) for every step."""
        started: dict[str, float] = {}
        with Session(self.db) as s:
            run = s.get(Run, run_id)
        conversation = run.conversation if run else ""
        run_id_var.set(run_id)
        thread_var.set(conversation)
        crumbs: list[Crumb] = []
        with (
            tracer.start_as_current_span(
                "coo.run", attributes={"coo.run_id": run_id, "coo.thread": conversation}
            ),
            _finally(lambda: self.crumbs.add_many(crumbs)),
        ):
            config = {**config, "recursion_limit": self.limits.max_steps}
            for task in self.graph.stream(
                graph_input, config, context=self.deps, durability="sync", stream_mode="tasks"
            ):
                if "input" in task:
                    started[task["id"]] = time.perf_counter()
                    continue
                t0 = started.pop(task["id"], time.perf_counter())
                ms = (time.perf_counter() - t0) * 1000
                crumbs.append(Breadcrumbs.step(run_id=run_id, conversation=conversation, task=task, ms=ms))
                span = tracer.start_span(
                    f"coo.step {task['name']}",
                    start_time=time.time_ns() - int(ms * 1e6),
                    attributes={
                        "coo.run_id": run_id,
                        "coo.node": task["name"],
                        "coo.ms": ms,
                        "coo.waiting": bool(task.get("interrupts")),
                    },
                )
                if task.get("error"):
                    span.set_attribute("coo.error", type(task["error"]).__name__)
                span.end()

    def _outcomes(self, state: RunState, waiting: bool) -> list[o.Outcome]:
        outs: list[o.Outcome] = []
        if state.reply:
            outs.append(
                o.Offer(state.reply, state.run_id, tuple(state.offers))
                if state.offers
                else o.Say(state.reply)
            )
        for p in state.proposals:
            if p.verdict == "deny":
                outs.append(o.Refused(p.reason if p.prechecked else f"Refused: {p.reason}"))
        if waiting:
            pending = {a.id: a for a in self.approvals.for_run(state.run_id) if a.status == "pending"}
            for p in state.proposals:
                if p.approval_id in pending and p.action is not None:
                    ap = pending[p.approval_id]
                    outs.append(o.Ask(ap.id, state.run_id, p.action, p.reason, ap.expires_at))
            return outs
        for decision in state.decisions.values():
            if decision != "approved":
                outs.append(o.Say(f"Not done ({decision}); nothing was changed."))
        for r in state.results:
            if r.ok:
                outs.append(
                    o.Done(
                        state.run_id,
                        r.text,
                        r.event_id if r.reversible else None,
                        r.duplicate,
                        r.event_id is not None,
                    )
                )
            else:
                outs.append(o.Failed(state.run_id, r.text))
        return outs

    def _finish(self, run_id: str, status: str, error: str | None = None) -> None:
        with transaction(self.db) as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            run.status = status
            run.error = error
            if status in ("done", "failed"):
                run.finished_at = utcnow()
            s.add(run)

    def _remember_reply(self, conversation: str, outs: list[o.Outcome]) -> None:
        text = "\n".join(
            getattr(x, "text", "") or getattr(getattr(x, "action", None), "summary", "") for x in outs
        )
        if text.strip():
            with transaction(self.db) as s:
                s.add(Turn(conversation=conversation, role="assistant", text=text[:2000]))

    def _record_plan(self, state: RunState, plan: Plan) -> None:
        if not plan.usage and not plan.planner:
            return
        day = date.today().isoformat()
        with transaction(self.db) as s:
            run = s.get(Run, state.run_id)
            total = 0.0
            for u in plan.usage:
                total += u.cost_usd
                if u.recorded:  # the budget ledger wrote it when it settled the call
                    continue
                s.add(
                    Spend(
                        run_id=state.run_id,
                        model=u.model,
                        input_tokens=u.input_tokens,
                        output_tokens=u.output_tokens,
                        cached_tokens=u.cached_tokens,
                        cost_usd=u.cost_usd,
                        day=day,
                        rung=u.rung,
                    )
                )
            if run is not None:
                run.planner = plan.planner[:200]
                run.cost_usd += total
                s.add(run)

    def _build_context(self, state: RunState) -> Assembled:
        """Assemble the planner's context and record what was retrieved on the run."""
        assert self.context is not None
        assembled = self.context.build(state.text, self.history(state.conversation, limit=50))
        rows = [
            retrievals.Retrieval(
                run_id=state.run_id,
                ref=r.ref,
                rank=i,
                score=r.score,
                detail={"trusted": r.trusted, **r.detail},
            )
            for i, r in enumerate(assembled.retrieved, start=1)
        ]
        with transaction(self.db) as s:
            retrievals.replace(s, state.run_id, rows)
        return assembled

    # ---- reading --------------------------------------------------------------------------------

    def history(self, conversation: str, limit: int | None = None) -> list[tuple[str, str]]:
        """Return the conversation's recent turns, oldest first (the run's own input excluded)."""
        with Session(self.db) as s:
            rows = s.exec(
                select(Turn)
                .where(Turn.conversation == conversation)
                .order_by(col(Turn.id).desc())
                .limit((limit or self.history_turns) + 1)
            ).all()
        return [(t.role, t.text) for t in reversed(rows[1:])]

    def pending(self, conversation: str | None = None) -> list[o.Ask]:
        """Return the cards still waiting for a decision."""
        out = []
        for ap in self.approvals.pending(conversation):
            out.append(o.Ask(ap.id, ap.run_id, Action.model_validate(ap.action), ap.reason, ap.expires_at))
        return out

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
        with Session(self.db) as s:
            q = select(Run).where(col(Run.status).in_(["waiting", "running"]))
            if channel is not None:
                q = q.where(Run.channel == channel)
            runs = s.exec(q).all()
        done: list[tuple[str, str, list[o.Outcome]]] = []
        for run in runs:
            snap = self.graph.get_state({"configurable": {"thread_id": run.id}})
            if snap.interrupts:
                outs = self.resume_if_ready(run.id)
            elif snap.next or not snap.values:
                outs = self.continue_run(run.id)
            else:
                self._finish(run.id, *_final_status(RunState.model_validate(snap.values)))
                continue
            if outs:
                done.append((run.id, run.conversation, outs))
        return done

    def checkpoint_of(self, run_id: str) -> str:
        """Return the id of a run's latest checkpoint ("" before its first): what a report of it is a report of."""
        snap = self.graph.get_state({"configurable": {"thread_id": run_id}})
        return str((snap.config or {}).get("configurable", {}).get("checkpoint_id") or "")

    def spend(self) -> dict[str, float]:
        """Return today's and this month's model spend in USD."""
        today = date.today()
        with Session(self.db) as s:
            day = s.exec(
                select(func.coalesce(func.sum(Spend.cost_usd), 0.0)).where(Spend.day == today.isoformat())
            ).one()
            month = s.exec(
                select(func.coalesce(func.sum(Spend.cost_usd), 0.0)).where(
                    col(Spend.day).startswith(today.strftime("%Y-%m"))
                )
            ).one()
        return {"today": float(day), "month": float(month)}

    def stuck(
        self,
        now: datetime | None = None,
        waiting_after: timedelta = timedelta(hours=24),
        running_after: timedelta = timedelta(minutes=10),
    ) -> list[tuple[Run, str]]:
        """Find runs stuck waiting for a decision, or dead while executing, with the reason."""
        now = now or utcnow()
        with Session(self.db) as s:
            waiting = s.exec(
                select(Run).where(Run.status == "waiting", col(Run.created_at) < now - waiting_after)
            ).all()
            running = s.exec(
                select(Run).where(Run.status == "running", col(Run.created_at) < now - running_after)
            ).all()
        return [(r, "waiting for a decision") for r in waiting] + [
            (r, "dead while executing") for r in running
        ]

    def status(self) -> dict[str, Any]:
        """Return counts for /status: runs in flight, pending approvals, recent failures."""
        with Session(self.db) as s:
            running = s.exec(select(func.count()).select_from(Run).where(Run.status == "running")).one()
            waiting = s.exec(
                select(func.count()).select_from(Approval).where(Approval.status == "pending")
            ).one()
            failed = s.exec(
                select(Run).where(Run.status == "failed").order_by(col(Run.created_at).desc()).limit(5)
            ).all()
        return {
            "running": int(running),
            "pending_approvals": int(waiting),
            "recent_failures": list(failed),
            "stuck": self.stuck(),
        }
