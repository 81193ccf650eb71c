"""The channel-neutral path between a chat platform and the engine.

An adapter verifies a request, calls `accept` (which records the delivery in the durable inbox, so a
duplicate stops there) and acknowledges at once; the engine then runs off the request path and the
replies are owed in the outbox (in the transaction that marks the delivery done) and posted through the
adapter's `Outbound`. Clicks are recorded and claimed like messages. Claims carry this process's owner
and lease (memory/owner.py); `sweep`, run periodically by `run_sweeper` and once by `recover`, takes over
what a dead process held: deliveries, clicks and owed replies.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from agents.contract import Action
from bot.app import App
from bot.jobs import chat_job, job_command, retry, retry_home
from bot.messages import Outbound, Reply, to_payload
from bot.notify import relay
from bot.render import render_all
from graph import outcomes as o
from graph.approvals import describe
from graph.errors import GraphError
from memory import eventlog, inbox, outbox
from memory.db import transaction
from memory.tables import InboxItem, utcnow

log = logging.getLogger(__name__)


ELSEWHERE = "That card belongs to another conversation; decide it there. Nothing was changed."

# The operator check lives here, once: what each front door tells a non-operator.
REFUSALS = {
    "message": "I only take requests from this workspace's operators.",
    "button": "Only this workspace's operators can use these buttons; nothing was changed.",
    "edit": "Only this workspace's operators can edit actions; nothing was changed.",
    "command": "Only this workspace's operators can use coo's commands.",
}
Gate = Literal["message", "button", "edit", "command"]


def refused(app: App, actor: str, what: Gate) -> list[Reply] | None:
    """The operator check of every front door: None for an operator, else the refusal to show.

    A stranger's messages are refused once per period (``app.refusals``), not once each; a button,
    an edit or a slash command is refused every time (the clicker sees it alone).
    """
    if app.is_operator(actor):
        return None
    if what == "message" and not app.refusals.allow(actor):
        return []
    return [Reply(text=REFUSALS[what])]


def same_place(a: str, b: str) -> bool:
    """Tell whether two conversation keys are in the same chat (channel and chat id; threads aside)."""
    return a.split(":")[:2] == b.split(":")[:2]


def run_id_for(delivery_id: str) -> str:
    """Derive the run id from a delivery id, so a redelivered message continues its run."""
    return "run_" + hashlib.sha256(delivery_id.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Click:
    """A button press, already verified and parsed by the adapter."""

    delivery_id: str
    conversation: str
    actor: str
    action: str  # approve | reject | undo | retry | edit | choose
    value: str


CLICKS = ("approve", "reject", "undo", "retry", "choose")  # the buttons a recorded click may carry
Private = Callable[[str, str, Reply], Awaitable[None]]  # (conversation, actor, reply)

Command = Callable[[App, str, str, str], Awaitable[list[Reply]] | list[Reply]]


Lane = Callable[[str, Sequence[str]], Awaitable[None]]  # (inbox key, dead owners): take it over


class Tasks:
    """Work started off the request path: kept until done, failures logged, awaited by `drain`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``coro`` in the background."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background work failed", self.name, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until all work started so far (and what it started) has finished (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{self.name}: background work did not finish in time")
            await asyncio.wait(set(self._tasks), timeout=left)


class Door:
    """What every front door shares: its background work, and the takeover of what a crash left.

    Each inbox channel a door reads is a *lane* with a handler; `sweep` (run at start by `recover`, then
    every ``owner.sweep_s`` by the sweeper) hands each lane the deliveries nobody alive works on.
    """

    def __init__(self, app: App, name: str) -> None:
        self.app = app
        self.name = name
        self.tasks = Tasks(name)
        self.lanes: dict[str, Lane] = {}
        self._working: set[str] = set()
        self._claimed: set[str] = set()  # claimed by `take_new`, not yet started by their handler
        # Picking deliveries and starting their work is one step under this lock, for sweeps and
        # `take_new` alike: a delivery a sweep has started (not yet claimed: its handler claims it)
        # must not be claimed by `take_new` in between, or the handler's claim fails and nobody works
        # on it while this process renews its lease.
        self._pick = asyncio.Lock()
        self._turn_ended: Callable[[], None] | None = None
        self.at_once = 8  # the most deliveries `take_new` keeps in flight (the turns run at once)
        self._sweeper: asyncio.Future[None] | None = None
        app.owner.start()

    def lane(self, channel: str, handler: Lane) -> None:
        """Have ``handler`` take over this inbox channel's unfinished deliveries."""
        self.lanes[channel] = handler

    async def recover(self) -> None:
        """Take over what a crash left (one sweep, as at start-up) and wait for it to be done."""
        started = await self.sweep(starting=True)
        if started:
            await asyncio.wait(started)

    async def sweep(self, starting: bool = False) -> list[asyncio.Future[Any]]:
        """Take over what nobody alive works on; return the work started.

        Args:
            starting: At start-up every delivery never claimed is taken; later only those older than
                the lease (younger ones are on their way to a claim in the process that recorded them).
        """
        owner = self.app.owner

        def look() -> tuple[list[str], list[tuple[str, str]]]:
            dead = owner.dead_holders()
            return dead, [(c, k) for c in self.lanes for k in owner.claimable(c, dead, starting)]

        async with self._pick:
            dead, keys = await asyncio.to_thread(look)
            started = self._start_all(keys, dead)
        return started + await self._sweep_more(dead, starting)

    async def take_new(self) -> list[asyncio.Future[Any]]:
        """Claim as many unclaimed deliveries as there is room for, however young; return the work started.

        The engine process (bot/engine_process.py) calls this when the HTTP process, which only
        records deliveries, wakes it, and when one of its turns ends (`on_turn_end`): the backlog is
        pulled, ``at_once`` at most in flight, so that processes sharing an inbox split it between
        them instead of each taking all of it and racing for the same claims.
        """
        async with self._pick:
            room = self.at_once - len(self._working)
            if room <= 0:
                return []  # a turn's end looks again
            busy = set(self._working)  # started here already: their handlers claim them
            keys = await asyncio.to_thread(self.app.owner.claim_next, list(self.lanes), room, busy)
            self._claimed.update(k for _, k in keys)
            return self._start_all(keys, ())

    def on_turn_end(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` whenever a delivery's work ends (the engine process looks for more then)."""
        self._turn_ended = hook

    def taken(self, key: str) -> bool:
        """Tell whether `take_new` already claimed ``key`` for its handler (which must then not claim it)."""
        if key in self._claimed:
            self._claimed.discard(key)
            return True
        return False

    def _start_all(self, keys: Sequence[tuple[str, str]], dead: Sequence[str]) -> list[asyncio.Future[Any]]:
        started = []
        for channel, key in keys:
            if key not in self._working:
                self._working.add(key)  # now, not when the task first runs: the next look may come first
                started.append(self.tasks.spawn(self._work(self.lanes[channel], key, dead)))
        return started

    async def _sweep_more(self, dead: Sequence[str], starting: bool) -> list[asyncio.Future[Any]]:
        """What else a door takes over in a sweep (the dispatcher: owed replies)."""
        return []

    async def _work(self, handler: Lane, key: str, dead: Sequence[str]) -> None:
        try:
            await handler(key, dead)
        finally:
            self._working.discard(key)
            self._claimed.discard(key)
            if self._turn_ended is not None:
                self._turn_ended()

    async def run_sweeper(self) -> None:
        """Sweep every ``owner.sweep_s`` seconds until cancelled (each front door's background task)."""
        self.app.owner.start()
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a database hiccup: the next sweep tries again
                log.warning("%s: sweep failed", self.name, exc_info=True)
            await asyncio.sleep(self.app.owner.sweep_s)

    def start_sweeper(self) -> None:
        """Start `run_sweeper` in the background (stopped by `stop_sweeper`)."""
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self.run_sweeper())

    def stop_sweeper(self) -> None:
        """Stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until all work started so far has finished (tests, shutdown)."""
        await self.tasks.drain(timeout)


class Dispatcher(Door):
    """Accepts deliveries and clicks for one channel and delivers the engine's replies."""

    def __init__(
        self,
        app: App,
        channel: str,
        outbound: Outbound,
        engine_workers: int = 8,
        *,
        click_channel: str | None = None,
        private: Private | None = None,
    ) -> None:
        super().__init__(app, channel)
        self.channel = channel
        self.outbound = outbound
        self.click_channel = click_channel  # the inbox channel of this front door's recorded clicks
        self.private = private  # shows a reply to one person (a refusal of their click)
        self.at_once = engine_workers
        self.lane(channel, self.process)
        if click_channel:
            self.lane(click_channel, self.process)
        self._conv_locks: dict[str, asyncio.Lock] = {}
        # Engine calls (model, graph) get their own threads: on the default pool, a slow model would
        # queue the inbox writes that acknowledgements wait for.
        self._engine_pool = ThreadPoolExecutor(engine_workers, thread_name_prefix=f"{channel}-engine")
        # Inbox writes that an acknowledgement waits for get threads of their own: on the default pool
        # a burst of messages queues its own acknowledgements behind the processing of the first ones.
        self._ack_pool = ThreadPoolExecutor(2, thread_name_prefix=f"{channel}-ack")
        # Acknowledgements first: new engine work waits (up to ``ack_first_s``) while requests are
        # still on their way to an answer, so a burst is acknowledged before its processing competes
        # with it for the CPU. The engine is CPU-bound between model calls; acks must not wait on it.
        self._in_flight = 0
        self._quiet: asyncio.Event | None = None
        self.ack_first_s = 2.0
        # Set when an engine process does the work (bot/engine_process.py): a recorded delivery then
        # only wakes it, and this process runs no engine work, no sweep and no recovery.
        self.wake: Callable[[], None] | None = None

    async def _engine(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._engine_pool, functools.partial(fn, *args))

    def request_started(self) -> None:
        """Note that a platform request is on its way to an answer (call `request_done` when answered)."""
        self._in_flight += 1
        if self._quiet is None:
            self._quiet = asyncio.Event()
        self._quiet.clear()

    def request_done(self) -> None:
        """Note that a platform request was answered."""
        self._in_flight = max(0, self._in_flight - 1)
        if self._in_flight == 0 and self._quiet is not None:
            self._quiet.set()

    async def _acks_first(self) -> None:
        if self._in_flight and self._quiet is not None:
            try:
                await asyncio.wait_for(self._quiet.wait(), self.ack_first_s)
            except TimeoutError:
                pass  # requests keep coming: processing must not starve either

    # ---- inbound --------------------------------------------------------------------------------

    async def accept(
        self,
        *,
        delivery_id: str,
        conversation: str,
        actor: str,
        text: str,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Record a message and start processing it off the request path; False for a duplicate.

        Text is masked before it is stored; a non-operator's message keeps only its ids (it is refused).
        """
        operator = self.app.is_operator(actor)
        record = functools.partial(
            inbox.record,
            self.app.db,
            delivery_id=f"{self.channel}:{delivery_id}",
            channel=self.channel,
            conversation=conversation,
            actor=actor,
            text=self.app.redactor.text(text) if operator else "",
            meta=self.app.redactor.value(meta) if operator and meta else None,
        )
        new = await asyncio.get_running_loop().run_in_executor(self._ack_pool, record)
        if new:
            self.app.engine.faults.hit("after_inbox_write")
            self.later(f"{self.channel}:{delivery_id}")
        return new

    def later(self, key: str) -> None:
        """Have a recorded delivery (a message or a click) processed off the request path.

        Here in a task, or by the engine process when there is one (woken now; its claim decides).
        """
        if self.wake is not None:
            self.wake()
        else:
            self.tasks.spawn(self.process(key))

    async def process(self, key: str, dead: Sequence[str] = ()) -> None:
        """Run one recorded delivery through the engine and deliver the replies (once, through the outbox)."""
        db = self.app.db
        if not (self.taken(key) or await asyncio.to_thread(self.app.owner.claim, key, dead)):
            return
        self.app.engine.faults.hit("after_claim")
        item = await asyncio.to_thread(inbox.get, db, key)
        if item is None:
            return
        if item.channel == self.click_channel:
            await self._process_click(item)
            return
        lock = self._conv_locks.setdefault(item.conversation, asyncio.Lock())
        async with lock:
            try:
                refusal = refused(self.app, item.actor, "message")
                if refusal is not None:
                    replies = refusal
                elif job_command(item.text) and await asyncio.to_thread(
                    chat_job, self.app, item.conversation, item.text, key
                ):
                    replies = []  # the job posted its own message and edits it as it goes
                else:
                    req = self.app.request(self.channel, item.conversation, item.actor, item.text)
                    await self._acks_first()
                    outs = await self._engine(self.app.engine.submit, req, run_id_for(key))
                    replies = render_all(outs)
                await self.deliver(item.conversation, replies, key=key, finish=key)
            except Exception:
                log.exception("processing %s failed", key)
                await self.deliver(
                    item.conversation,
                    [Reply(text="Something went wrong handling that message; it was logged.")],
                    key=f"{key}:failed",
                    finish=key,
                    status="failed",
                )

    async def _process_click(self, item: InboxItem) -> None:
        """Carry out a recorded click (a first attempt, or one a dead process left) and finish it."""
        action, _, value = item.text.partition(" ")
        if action == "edit" and "arguments" in item.meta:  # a modal's submission: its arguments were kept
            edit = Click(item.delivery_id, item.conversation, item.actor, action, value)
            try:
                private = await self.revise(
                    delivery_id=item.delivery_id.removeprefix(f"{self.click_channel}:"),
                    conversation=item.conversation,
                    actor=item.actor,
                    approval_id=value,
                    arguments=dict(item.meta["arguments"]),
                    key=item.delivery_id,
                    again=item.attempts > 1,
                )
            except Exception:
                log.exception("edit %s failed", item.delivery_id)
                await asyncio.to_thread(inbox.finish, self.app.db, item.delivery_id, "failed")
                private = [Reply(text="That did not work; the error was logged.")]
            for reply in private:
                await self.tell(edit, reply)
            return
        if action not in CLICKS:  # an edit recorded without its arguments: it cannot be carried out
            log.warning(
                "%s: %s was cut off by a crash; the card's Edit can be used again", self.channel, item.text
            )
            await asyncio.to_thread(inbox.finish, self.app.db, item.delivery_id, "failed")
            return
        click = Click(
            item.delivery_id.removeprefix(f"{self.click_channel}:"),
            item.conversation,
            item.actor,
            action,
            value,
        )
        try:
            private = await self.click(click, key=item.delivery_id, again=item.attempts > 1)
            for reply in private:
                await self.tell(click, reply)
        except Exception:
            log.exception("click %s failed", item.delivery_id)
            await asyncio.to_thread(inbox.finish, self.app.db, item.delivery_id, "failed")
            await self.tell(click, Reply(text="That did not work; the error was logged."))

    async def tell(self, click: Click, reply: Reply) -> None:
        """Show a reply to the clicker only (the channel's `private`), else in the conversation."""
        if self.private is not None:
            await self.private(click.conversation, click.actor, reply)
        else:
            await self.deliver(click.conversation, [reply])

    async def click(self, click: Click, key: str | None = None, again: bool = False) -> list[Reply]:
        """Handle a button press; return replies meant only for the clicker (e.g. a refusal).

        Args:
            click: The press.
            key: Its inbox key when it was recorded there (finished with its replies, in one transaction).
            again: A dead process had this click: a refusal "already decided" may be its own decision,
                whose outcome is then reported from the run (Done with Undo), not refused.
        """
        refusal = refused(self.app, click.actor, "button")
        if refusal is not None:
            if key:
                await asyncio.to_thread(inbox.finish, self.app.db, key, "done")
            return refusal
        engine = self.app.engine
        outs: list[o.Outcome]
        home = await self._home(click.action, click.value)
        if home is not None and not same_place(home, click.conversation):
            log.warning(
                "refused a %s of %s from %s (it belongs to %s)",
                click.action,
                click.value,
                click.conversation,
                home,
            )
            if key:
                await asyncio.to_thread(inbox.finish, self.app.db, key, "done")
            return [Reply(text=ELSEWHERE)]
        where = home or click.conversation  # the result goes where the card was posted
        if click.action in ("approve", "reject"):
            outs = await self._engine(engine.decide, click.value, click.action == "approve", click.actor)
            if again and outs and all(isinstance(x, o.Notice) for x in outs):
                before = await self._engine(self._decided_before, click)
                if before is not None:
                    decided, run_id, run_outs = before
                    await self.deliver(where, render_all([decided]), key=key)
                    await self.report_run(run_id, where, run_outs, finish=key)
                    return []
            decided_now: list[o.Outcome] = [
                x for x in outs if isinstance(x, o.Decided) and x.approval_id == click.value
            ]
            run_id = await self._run_of(click.value) if decided_now else None
            if run_id is not None:
                # The card's update is this click's; what the run then reports is keyed by the run and
                # its checkpoint, as a recovery of the same run reports it: owed once, whoever gets there.
                rest = [x for x in outs if x is not decided_now[0]]
                await self.deliver(
                    where, render_all(decided_now), key=key or f"{self.channel}:click:{click.delivery_id}"
                )
                await self.report_run(run_id, where, rest, finish=key)
                return []
        elif click.action == "undo":
            outs = await self._engine(engine.undo, click.value, click.actor, self.app.is_operator)
        elif click.action == "retry":
            like = self.app.request(self.channel, click.conversation, click.actor, "")
            outs = await self._engine(retry, self.app, click.value, like)
        elif click.action == "choose":
            outs = await self._choose(click, home, again)
        else:
            outs = [o.Notice(f"Unknown button {click.action!r}.")]
        # A refusal (already decided, expired, not found) goes to the clicker only; a click a dead
        # process left is told in the conversation (the clicker may have gone).
        if outs and all(isinstance(x, o.Notice) for x in outs) and not again:
            if key:
                await asyncio.to_thread(inbox.finish, self.app.db, key, "done")
            return render_all(outs)
        await self.deliver(
            where,
            render_all(outs),
            key=key or f"{self.channel}:click:{click.delivery_id}",
            finish=key,
        )
        return []

    async def _choose(self, click: Click, home: str | None, again: bool) -> list[o.Outcome]:
        """Re-enter a "did you mean" choice as the clicker's message in the offer's conversation, once.

        The message's delivery id comes from the offer and the choice, so a second click, a replayed
        one or a recovered one finds it recorded and adds nothing.
        """
        if home is None:
            return [o.Notice("That choice is no longer available; type the command instead.")]
        line = click.value.partition("|")[2]
        offer = hashlib.sha256(click.value.encode()).hexdigest()[:24]
        new = await self.accept(
            delivery_id=f"choose:{offer}", conversation=home, actor=click.actor, text=line
        )
        if new or again:
            return []
        return [o.Notice(f"`{line}` was chosen already.")]

    def _decided_before(self, click: Click) -> tuple[o.Outcome, str, list[o.Outcome]] | None:
        """Carry out this clicker's own decision that a dead process recorded: (decided, run id, its outcomes)."""
        try:
            ap = self.app.approvals.get(click.value)
        except GraphError:
            return None
        if ap.decided_by != click.actor or ap.status != (
            "approved" if click.action == "approve" else "rejected"
        ):
            return None
        summary = Action.model_validate(ap.action).summary
        decided = o.Decided(ap.id, ap.status, click.actor, ap.decided_at or utcnow(), summary)
        return decided, ap.run_id, self.app.engine.continue_run(ap.run_id)

    async def report_run(
        self, run_id: str, conversation: str, outs: list[o.Outcome], *, finish: str | None = None
    ) -> None:
        """Deliver what a recovered run reports, keyed by the run and its checkpoint.

        A run recovered twice over to the same checkpoint (at start-up, and by the takeover of the
        click that decided it) owes its report once.
        """
        checkpoint = await self._engine(self.app.engine.checkpoint_of, run_id)
        key = f"{self.channel}:run:{run_id}:{checkpoint}"
        await self.deliver(conversation, render_all(outs), key=key, finish=finish)

    async def recover_runs(self) -> None:
        """Finish this channel's runs a crash interrupted (decided, not carried out) and report them."""
        for run_id, conversation, outs in await self._engine(self.app.engine.recover_runs, self.channel):
            await self.report_run(run_id, conversation, outs)

    async def stale(self, approval_id: str, conversation: str) -> str | None:
        """Return why a card's button cannot act now (unknown, decided, another conversation), or None.

        The adapters that can answer at once (Telegram's alert, Slack's Edit before its modal) ask this.
        """
        try:
            ap = await asyncio.to_thread(self.app.approvals.get, approval_id)
        except GraphError as exc:
            return str(exc)
        if ap.status != "pending":
            return describe(ap)
        if not same_place(ap.conversation, conversation):
            log.warning(
                "%s: refused a click on %s from %s (asked in %s)",
                self.channel,
                ap.id,
                conversation,
                ap.conversation,
            )
            return ELSEWHERE
        return None

    async def _run_of(self, approval_id: str) -> str | None:
        """Return the run an approval belongs to (None: no such approval)."""
        try:
            ap = await asyncio.to_thread(self.app.approvals.get, approval_id)
        except GraphError:
            return None
        return ap.run_id

    async def _asked_in(self, approval_id: str) -> str | None:
        """Return the conversation an approval was asked in (None: no such approval; decide says so)."""
        try:
            ap = await asyncio.to_thread(self.app.approvals.get, approval_id)
        except GraphError:
            return None
        return ap.conversation

    async def _home(self, action: str, value: str) -> str | None:
        """Return the conversation a button belongs to: its approval's, or its effect's for Undo."""
        if action in ("approve", "reject"):
            return await self._asked_in(value)
        if action == "undo":
            return await asyncio.to_thread(eventlog.conversation_of, self.app.db, value)
        if action == "retry":
            return await asyncio.to_thread(retry_home, self.app, value)
        if action == "choose":  # the run that offered it
            return await asyncio.to_thread(retry_home, self.app, value.partition("|")[0])
        return None

    async def revise(
        self,
        *,
        delivery_id: str,
        conversation: str,
        actor: str,
        approval_id: str,
        arguments: dict[str, Any],
        key: str | None = None,
        again: bool = False,
    ) -> list[Reply]:
        """Replace a card by one with edited arguments (checked again); return replies for the editor only.

        Args:
            delivery_id: The platform's id of the edit (the new run's id derives from it).
            conversation: Where the edit was made.
            actor: Who edits.
            approval_id: The card edited.
            arguments: The edited arguments.
            key: The edit's inbox key when it was recorded there (finished with its replies, in one
                transaction).
            again: A dead process had this edit: when it had already replaced the card, the new card
                is reported from its run (once, keyed by the run's checkpoint), not refused.
        """
        finish = key
        refusal = refused(self.app, actor, "edit")
        if refusal is not None:
            if finish:
                await asyncio.to_thread(inbox.finish, self.app.db, finish, "done")
            return refusal
        asked_in = await self._asked_in(approval_id)
        if asked_in is not None and not same_place(asked_in, conversation):
            log.warning("refused an edit of %s from %s (asked in %s)", approval_id, conversation, asked_in)
            if finish:
                await asyncio.to_thread(inbox.finish, self.app.db, finish, "done")
            return [Reply(text=ELSEWHERE)]
        conversation = asked_in or conversation  # the new card goes where the approval was asked
        like = self.app.request(self.channel, conversation, actor, "")
        run_id = run_id_for(f"{self.channel}:{delivery_id}")
        outs = await self._engine(self.app.engine.revise, approval_id, arguments, like, run_id)
        if outs and all(isinstance(x, o.Notice) for x in outs):
            if again:
                before = await self._engine(self._revised_before, approval_id, actor, run_id)
                if before is not None:
                    closed, run_outs = before
                    await self.deliver(conversation, render_all([closed]), key=f"{key}:closed")
                    await self.report_run(run_id, conversation, run_outs, finish=finish)
                    return []
            if finish:
                await asyncio.to_thread(inbox.finish, self.app.db, finish, "done")
            return render_all(outs)
        await self.deliver(conversation, render_all(outs), key=key, finish=finish)
        return []

    def _revised_before(
        self, approval_id: str, actor: str, run_id: str
    ) -> tuple[o.Outcome, list[o.Outcome]] | None:
        """An edit a dead process carried out: (the old card closed, the new run's outcomes), else None."""
        try:
            ap = self.app.approvals.get(approval_id)
        except GraphError:
            return None
        if ap.decided_by != actor or ap.status != "rejected" or retry_home(self.app, run_id) is None:
            return None  # not this editor's edit, or its new run never started
        summary = Action.model_validate(ap.action).summary
        closed = o.Decided(ap.id, "edited", actor, ap.decided_at or utcnow(), summary)
        return closed, self.app.engine.continue_run(run_id)

    # ---- outbound -------------------------------------------------------------------------------

    async def deliver(
        self,
        conversation: str,
        replies: list[Reply],
        *,
        key: str | None = None,
        finish: str | None = None,
        status: str = "done",
    ) -> None:
        """Owe replies to a conversation (the outbox), then post them in order.

        Args:
            conversation: Where.
            replies: What; a reply that replaces a known message updates it in place.
            key: The idempotency key of what produced them (the same work delivers its replies once).
            finish: An inbox delivery marked ``status`` in the same transaction as the replies are owed.
            status: See ``finish``.
        """
        key = key or f"{self.channel}:reply:{uuid.uuid4().hex}"
        payloads = [to_payload(r) for r in replies]

        def owed() -> list[str]:
            with transaction(self.app.db) as s:
                keys = outbox.enqueue(s, key, self.channel, conversation, payloads)
                if finish:
                    inbox.finish_in(s, finish, status)
            return keys

        for k in await asyncio.to_thread(owed):
            await self.relay(k)

    async def relay(self, key: str, dead: Sequence[str] = ()) -> bool:
        """Post one owed reply if nobody alive is posting it; True when this call posted it."""
        return await relay(
            self.app.db, self.app.owner, self.outbound, key, dead=dead, faults=self.app.engine.faults
        )

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start sweeping, then finish runs a crash interrupted and take over what it left (one order for all)."""
        self.start_sweeper()
        await self.recover_runs()
        await self.recover()

    async def _sweep_more(self, dead: Sequence[str], starting: bool) -> list[asyncio.Future[Any]]:
        """Owed replies nobody alive is posting."""
        since = None if starting else utcnow() - self.app.owner.lease
        owed = await asyncio.to_thread(outbox.due, self.app.db, self.channel, dead, created_before=since)
        if not owed:
            return []
        return [self.tasks.spawn(self._relay_all([i.key for i in owed], dead))]

    async def _relay_all(self, keys: list[str], dead: Sequence[str]) -> None:
        for key in keys:
            await self.relay(key, dead)

    def close(self) -> None:
        """Stop the sweeper; release the engine threads (after `drain`)."""
        self.stop_sweeper()
        self._engine_pool.shutdown(wait=False, cancel_futures=True)
        self._ack_pool.shutdown(wait=False, cancel_futures=True)
