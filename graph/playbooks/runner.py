"""Run playbooks: start one for a claimed slot, resume it when its batch card is decided, retry, skip, replay.

Every action goes through the engine (graph/playbooks/compiler.py says how), so this module only
claims slots, drives the playbook's own graph with the engine's checkpointer, and says where a run
stands in plain words: its messages, its one card for a batch, or where it stopped and what to reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from langgraph.types import Command

from agents.contract import Action
from graph import outcomes as o
from graph.engine import Engine
from graph.playbooks.compiler import (
    WAIT,
    Actions,
    PlaybookDeps,
    PlaybookState,
    SubRun,
    compile_playbook,
    preset_text,
)
from graph.playbooks.queries import BUILTIN, Query
from graph.playbooks.schema import Playbook, Step, parse
from graph.request import Request
from graph.state import Preset, RunState
from memory import playbooks as store
from memory.tables import new_id, utcnow

log = logging.getLogger(__name__)


class EngineActions(Actions):
    """An ``op`` step's actions as runs of the engine's graph, with the action preset (no model asked)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, run_id: str, state: PlaybookState, step: Step, arguments: dict[str, Any]) -> None:
        """Start the run of one action once; a run that exists is brought as far as it can go instead."""
        assert step.op is not None
        req = Request(
            channel=state["channel"],
            conversation=state["conversation"],
            actor=f"playbook:{state['playbook']}",
            text=preset_text(state["playbook"], step, arguments),
            deciders=tuple(state.get("deciders") or ()),
            untrusted=bool(state.get("untrusted")),
            preset=(Preset(key=step.op, arguments=arguments),),
        )
        self.engine.submit(req, run_id, limited=False)  # one way in: trust sees a failed auto action

    def read(self, run_id: str, *, drive: bool) -> SubRun:
        """Return where an action's run stands (driving it on first, when asked)."""
        eng = self.engine
        if drive:
            eng.continue_run(run_id)
        snap = eng.graph.get_state({"configurable": {"thread_id": run_id}})
        row = eng.runs.get(run_id)
        if not snap.values:
            return SubRun(run_id, waiting=False, ok=False, text=f"the action's run {run_id} never started")
        state = RunState.model_validate(snap.values)
        waiting = bool(snap.interrupts)
        p = state.proposals[0] if state.proposals else None
        refused = p.reason if p is not None and p.verdict == "deny" else ""
        approval = (p.approval_id or "") if p is not None else ""
        decision = state.decisions.get(approval, "") if approval else ""
        failed = [r for r in state.results if not r.ok]
        if row is not None and row.status == "failed" and not failed and not waiting and snap.next:
            return SubRun(run_id, False, False, row.error or "the action failed", approval_id=approval)
        text = "\n".join(r.text for r in state.results) or state.reply
        summary = p.action.summary if p is not None and p.action is not None else ""
        ok = not failed
        return SubRun(run_id, waiting, ok, failed[0].text if failed else text, refused, decision, approval, summary)


@dataclass(frozen=True)
class Report:
    """Where a playbook run stands after a drive: its status, its outcomes for the chat, and its text."""

    run_id: str
    status: str  # done | waiting | failed | taken (another process has the slot)
    outcomes: list[o.Outcome] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Return the outcomes' words, one per line."""
        return o.text_of(self.outcomes)


class PlaybookRunner:
    """Starts, resumes and replays playbook runs.

    Args:
        engine: The engine whose graph, policy and approvals every action goes through.
        db: The workspace database.
        tz: The operator's zone (``COO_TIMEZONE``).
        queries: The reads ``query`` steps may name (the built-in ones by default).
        clock: The time now.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        tz: tzinfo,
        queries: Mapping[str, Query] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.db = engine.db
        self.tz = tz
        self.queries: dict[str, Query] = dict(BUILTIN if queries is None else queries)
        self.clock = clock
        self.actions: Actions = EngineActions(engine)
        self._graphs: dict[tuple[str, int, str], Any] = {}
        self._known: dict[tuple[str, int], Playbook] = {}  # started here; others are read from the store

    # ---- parsing and loading --------------------------------------------------------------------

    def parse(self, text: str) -> Playbook:
        """Validate a playbook against this installation's operations and queries (PlaybookError if not)."""
        ops = [op.key for op in self.engine.registry.offered()]
        return parse(text, operations=ops, queries=self.queries)

    def load(self, name: str, version: int | None = None) -> Playbook | None:
        """Return a stored playbook (its newest version, or the one given)."""
        if version is not None and (name, version) in self._known:
            return self._known[(name, version)]
        row = store.current(self.db, name) if version is None else store.version(self.db, name, version)
        if row is None:
            return None
        return parse(row.text).model_copy(update={"version": row.version})  # the stored number counts

    def graph_of(self, pb: Playbook) -> Any:
        """Return the compiled graph of a playbook (compiled once per version)."""
        key = (pb.name, pb.version, pb.model_dump_json())
        if key not in self._graphs:
            self._graphs[key] = compile_playbook(pb, self.engine.graph.checkpointer)
        return self._graphs[key]

    def _deps(self, run_id: str) -> PlaybookDeps:
        row = store.get(self.db, run_id)
        control = dict(row.control) if row is not None else {}
        return PlaybookDeps(self.actions, self.queries, self.db, self.tz, self.clock, control)

    # ---- verbs ----------------------------------------------------------------------------------

    def start(
        self,
        pb: Playbook,
        *,
        slot: str,
        conversation: str,
        channel: str,
        deciders: Iterable[str],
        trigger: Mapping[str, Any] | None = None,
        untrusted: bool = False,
    ) -> Report:
        """Claim a slot and run the playbook to its end, its first card, or its failure.

        A slot another process (or an earlier run) claimed is not run again: the report says ``taken``.
        """
        self._known[(pb.name, pb.version)] = pb
        run = store.claim(self.db, pb.name, slot, version=pb.version, conversation=conversation)
        if run is None:
            return Report("", "taken", [o.Notice(f"Playbook {pb.name} already ran for {slot}.")])
        state = self._initial(pb, run.id, conversation, channel, deciders, {"slot": slot, **dict(trigger or {})}, untrusted)
        return self._drive(pb, run.id, state)

    @staticmethod
    def _initial(
        pb: Playbook,
        run_id: str,
        conversation: str,
        channel: str,
        deciders: Iterable[str],
        trigger: dict[str, Any],
        untrusted: bool,
    ) -> PlaybookState:
        return {
            "run_id": run_id,
            "playbook": pb.name,
            "version": pb.version,
            "conversation": conversation,
            "channel": channel,
            "deciders": list(deciders),
            "trigger": trigger,
            "untrusted": untrusted,
            "outputs": {},
            "messages": [],
            "failed": "",
            "error": "",
        }

    def run_claimed(
        self, run_id: str, deciders: Callable[[str], list[str]], trigger: Mapping[str, Any] | None = None
    ) -> Report:
        """Run a slot the scheduler claimed (a ``playbook.run`` job); a run already under way goes on instead.

        A job delivered again (its worker died mid-run) finds the run's checkpoints and continues from
        the last one: the steps done are not done again, and an action's run is found, not repeated.
        """
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return Report(run_id, "failed", [o.Notice(f"There is no playbook run {run_id}.")])
        if self.graph_of(pb).get_state(_config(run_id)).values:
            return self.resume(run_id)
        channel = row.conversation.split(":", 1)[0]
        fired = {"slot": row.slot, **dict(trigger or {})}
        untrusted = bool(fired.pop("untrusted", False))  # an inbound hook's payload: policy asks for every write
        state = self._initial(pb, run_id, row.conversation, channel, deciders(channel), fired, untrusted)
        return self._drive(pb, run_id, state)

    def run_now(self, pb: Playbook, *, conversation: str, channel: str, deciders: Iterable[str]) -> Report:
        """Run a playbook now, outside its schedule (`playbook run <name>`)."""
        slot = f"manual:{new_id('m')}"
        return self.start(pb, slot=slot, conversation=conversation, channel=channel, deciders=deciders)

    def resume(self, run_id: str) -> Report:
        """Continue a run: past its card once every card of the batch is decided, or from its last checkpoint."""
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return Report(run_id, "failed", [o.Notice(f"There is no playbook run {run_id}.")])
        snap = self.graph_of(pb).get_state(_config(run_id))
        if snap.interrupts:
            if self.batch(run_id):
                return self._report(pb, run_id, len(snap.values.get("messages") or []))  # cards still wait
            if not store.take(self.db, run_id, "waiting", "running"):
                return Report(run_id, row.status, [])  # another process resumed it in the same moment
            return self._drive(pb, run_id, Command(resume={"run_id": run_id}))
        if snap.next:
            return self._drive(pb, run_id, None)
        if row.status in store.FINISHED:
            return Report(run_id, row.status, [o.Notice(f"Playbook run {run_id} already ended ({row.status}).")])
        return self._report(pb, run_id, len((snap.values or {}).get("messages") or []))

    def retry(self, run_id: str) -> Report:
        """Run a stopped run's failed step again (new attempts of its actions), then go on."""
        return self._again(run_id, skip=False)

    def skip(self, run_id: str) -> Report:
        """Go on with a stopped run without its failed step."""
        return self._again(run_id, skip=True)

    def _again(self, run_id: str, *, skip: bool) -> Report:
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return Report(run_id, "failed", [o.Notice(f"There is no playbook run {run_id}.")])
        values = self.graph_of(pb).get_state(_config(run_id)).values or {}
        step = str(values.get("failed") or "")
        if not step or row.status != "failed":
            return Report(run_id, row.status, [o.Notice(f"Playbook run {run_id} has not stopped at a failed step.")])
        store.set_control(self.db, run_id, **({"skip": step} if skip else {"retry": step}))
        return self.replay(run_id, step)

    def replay(self, run_id: str, from_step: str | None = None) -> Report:
        """Run again from the checkpoint before a step (or the last one); done actions are not repeated."""
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return Report(run_id, "failed", [o.Notice(f"There is no playbook run {run_id}.")])
        graph = self.graph_of(pb)
        config: dict[str, Any] = _config(run_id)
        if from_step is not None:
            if from_step not in {s.id for s in pb.steps}:
                return Report(run_id, row.status, [o.Notice(f"Playbook {pb.name} has no step {from_step!r}.")])
            for snap in graph.get_state_history(config):
                if from_step in snap.next:
                    config = snap.config
                    break
            else:
                return Report(run_id, row.status, [o.Notice(f"Run {run_id} never reached step {from_step!r}.")])
        return self._drive(pb, run_id, None, config)

    def decide_batch(self, run_id: str, actor: str, *, approve: bool, without: Iterable[int] = ()) -> list[o.Outcome]:
        """Decide a run's batch card: every numbered action approved (except those removed) or rejected.

        Each action's own approval is decided through the engine (who may decide is checked there), and
        its run goes on (an email waits out its undo window); then the playbook goes on.
        """
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return [o.Notice(f"There is no playbook run {run_id}.")]
        listed = self.batch(run_id)
        if not listed:
            return [o.Notice(f"Playbook run {run_id} has no card waiting.")]
        removed = set(without)
        unknown = sorted(removed - set(range(1, len(listed) + 1)))
        if unknown:
            return [o.Notice(f"There is no item {unknown[0]} on that card (it lists 1 to {len(listed)}). Nothing was decided.")]
        out: list[o.Outcome] = []
        for i, (approval_id, _summary) in enumerate(listed, start=1):
            out += self.engine.decide(approval_id, approve and i not in removed, actor)
        if any(isinstance(x, o.Notice) for x in out) and not any(isinstance(x, o.Decided) for x in out):
            return [next(x for x in out if isinstance(x, o.Notice))]
        return out + self.resume(run_id).outcomes

    def batch(self, run_id: str) -> list[tuple[str, str]]:
        """Return the (approval id, what it does) pairs of a run's waiting card, in the card's order."""
        pb, _row = self._of(run_id)
        if pb is None:
            return []
        snap = self.graph_of(pb).get_state(_config(run_id))
        listed: list[tuple[str, str]] = []
        for intr in snap.interrupts:
            for sub in (intr.value or {}).get("runs", []):
                for ap in self.engine.approvals.for_run(sub):
                    if ap.status == "pending":
                        listed.append((ap.id, _card_line(Action.model_validate(ap.action))))
        return listed

    def trace(self, run_id: str) -> str:
        """Return a playbook run step by step: each step's status, words, actions, and its checkpoints."""
        pb, row = self._of(run_id)
        if pb is None or row is None:
            return f"There is no playbook run {run_id}."
        graph = self.graph_of(pb)
        snap = graph.get_state(_config(run_id))
        values = snap.values or {}
        outputs = values.get("outputs") or {}
        lines = [f"Playbook {pb.name} v{pb.version}, run {run_id} ({row.slot}): {row.status}"]
        history = list(graph.get_state_history(_config(run_id)))
        before: dict[str, str] = {}
        for h in reversed(history):
            for nxt in h.next:
                before.setdefault(nxt, str(h.config["configurable"].get("checkpoint_id", "")))
        for i, sid in enumerate(pb.order(), start=1):
            out = outputs.get(sid)
            if values.get("failed") == sid:
                status = "failed"
            elif out is None:
                status = "waiting" if any(sid in n for n in snap.next) or (sid + WAIT) in snap.next else "not reached"
            elif out.get("skipped"):
                status = "skipped"
            elif out.get("waiting"):
                status = "waiting for approval"
            else:
                status = "done"
            kind = pb.step(sid).kind
            lines.append(f"{i}. {sid} [{kind}] {status}" + (f" (checkpoint {before[sid]})" if sid in before else ""))
            detail = (out or {}).get("error") or (out or {}).get("text") or ""
            if detail:
                lines += [f"     {line}" for line in str(detail).splitlines()[:5]]
            for sub in (out or {}).get("runs", []):
                lines.append(f"     action run {sub}")
        if values.get("failed"):
            lines.append(f"Stopped: {values.get('error')}")
        return "\n".join(lines)

    # ---- reporting ------------------------------------------------------------------------------

    def _of(self, run_id: str) -> tuple[Playbook | None, Any]:
        row = store.get(self.db, run_id)
        if row is None:
            return None, None
        return self.load(row.playbook, row.version), row

    def _drive(self, pb: Playbook, run_id: str, graph_input: Any, config: dict[str, Any] | None = None) -> Report:
        graph = self.graph_of(pb)
        before = len((graph.get_state(_config(run_id)).values or {}).get("messages") or [])
        store.finish(self.db, run_id, "running", "")
        try:
            graph.invoke(graph_input, config or _config(run_id), context=self._deps(run_id), durability="sync")
        except Exception as exc:  # noqa: BLE001 - the run stops at its last checkpoint; Retry goes on
            log.exception("playbook %s run %s failed", pb.name, run_id)
            text = f"Playbook {pb.name} stopped ({type(exc).__name__}); reply `playbook retry {run_id}` to go on."
            store.finish(self.db, run_id, "failed", text)
            return Report(run_id, "failed", [o.Say(text)])
        return self._report(pb, run_id, before)

    def _report(self, pb: Playbook, run_id: str, said: int) -> Report:
        snap = self.graph_of(pb).get_state(_config(run_id))
        values = snap.values or {}
        messages = list(values.get("messages") or [])[said:]
        outs: list[o.Outcome] = [o.Say(m) for m in messages]
        if snap.interrupts:
            listed = self.batch(run_id)
            text = _card(pb, run_id, listed)
            store.finish(self.db, run_id, "waiting", text, step=str(snap.interrupts[0].value.get("step", "")))
            return Report(run_id, "waiting", [*outs, o.Say(text)])
        failed = str(values.get("failed") or "")
        if failed:
            text = (
                f"Playbook {pb.name} stopped at step {failed}: {values.get('error')}\n"
                f"Reply `playbook retry {run_id}` to run that step again, or `playbook skip {run_id}` to go on without it."
            )
            store.finish(self.db, run_id, "failed", text, step=failed)
            return Report(run_id, "failed", [*outs, o.Say(text)])
        last = "\n".join(values.get("messages") or []) or f"Playbook {pb.name} finished."
        store.finish(self.db, run_id, "done", last)
        if not outs:
            outs = [o.Say(f"Playbook {pb.name} finished.")]
        return Report(run_id, "done", outs)


def _config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}}


def _card_line(action: Action) -> str:
    body = str(action.arguments.get("body") or "").strip().splitlines()
    return action.summary + (f" — {body[0][:80]}" if body else "")


def _card(pb: Playbook, run_id: str, listed: list[tuple[str, str]]) -> str:
    lines = [f"Playbook {pb.name}: {len(listed)} action(s) wait for your approval, on this one card:"]
    lines += [f"  {i}. {line}" for i, (_ap, line) in enumerate(listed, start=1)]
    lines.append(
        f"Reply `playbook approve {run_id}` to approve them all, `playbook approve {run_id} without 2` "
        f"to leave some out, or `playbook reject {run_id}`."
    )
    return "\n".join(lines)
