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
from typing import Any, Protocol

from agents.contract import Action
from bot.app import App
from bot.jobs import chat_job, job_command
from bot.messages import Reply, from_payload, to_payload
from bot.render import render_all
from graph import outcomes as o
from graph.errors import GraphError
from memory import eventlog, inbox, outbox, refs
from memory.db import transaction
from memory.tables import InboxItem, OutboxItem, utcnow

log = logging.getLogger(__name__)


class Outbound(Protocol):
    """How a channel posts and updates messages."""

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        """Post a reply; return a reference to the posted message (for later updates)."""
        ...

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        """Replace a posted message in place."""
        ...


ELSEWHERE = "That card belongs to another conversation; decide it there. Nothing was changed."


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
    action: str  # approve | reject | undo | retry | edit
    value: str


Private = Callable[[str, str, Reply], Awaitable[None]]  # (conversation, actor, reply)
MAX_POST_ATTEMPTS = 5  # a reply the platform keeps refusing is given up (failed) after this many tries

Command = Callable[[App, str, str, str], Awaitable[list[Reply]] | list[Reply]]


class Dispatcher:
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
        self.app = app
        self.channel = channel
        self.outbound = outbound
        self.click_channel = click_channel  # the inbox channel of this front door's recorded clicks
        self.private = private  # shows a reply to one person (a refusal of their click)
        self._working: set[str] = set()
        self._sweeper: asyncio.Future[None] | None = None
        app.owner.start()
        self._tasks: set[asyncio.Task[None]] = set()
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
            self._spawn(self.process(f"{self.channel}:{delivery_id}"))
        return new

    async def process(self, key: str, dead: Sequence[str] = ()) -> None:
        """Run one recorded delivery through the engine and deliver the replies (once, through the outbox)."""
        db = self.app.db
        if not await asyncio.to_thread(self.app.owner.claim, key, dead):
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
                if not self.app.is_operator(item.actor):
                    refuse = self.app.refusals.allow(item.actor)  # once per period, not once per message
                    replies = (
                        [Reply(text="I only take requests from this workspace's operators.")]
                        if refuse
                        else []
                    )
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
        if action not in ("approve", "reject", "undo", "retry"):  # an edit cut off: its arguments are gone
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
        if not self.app.is_operator(click.actor):
            if key:
                await asyncio.to_thread(inbox.finish, self.app.db, key, "done")
            return [Reply(text="Only this workspace's operators can use these buttons; nothing was changed.")]
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
        elif click.action == "undo":
            outs = await self._engine(engine.undo, click.value, click.actor, self.app.is_operator)
        elif click.action == "retry" and click.value.startswith("job_"):
            from bot.jobs import retry_job

            outs = await self._engine(retry_job, self.app, click.value)
        elif click.action == "retry":
            like = self.app.request(self.channel, click.conversation, click.actor, "")
            outs = await self._engine(engine.retry, click.value, like)
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
            return await asyncio.to_thread(_retry_home, self.app.db, value)
        return None

    async def revise(
        self, *, delivery_id: str, conversation: str, actor: str, approval_id: str, arguments: dict[str, Any]
    ) -> list[Reply]:
        """Replace a card by one with edited arguments (checked again); return replies for the editor only."""
        if not self.app.is_operator(actor):
            return [Reply(text="Only this workspace's operators can edit actions; nothing was changed.")]
        asked_in = await self._asked_in(approval_id)
        if asked_in is not None and not same_place(asked_in, conversation):
            log.warning("refused an edit of %s from %s (asked in %s)", approval_id, conversation, asked_in)
            return [Reply(text=ELSEWHERE)]
        conversation = asked_in or conversation  # the new card goes where the approval was asked
        like = self.app.request(self.channel, conversation, actor, "")
        run_id = run_id_for(f"{self.channel}:{delivery_id}")
        outs = await self._engine(self.app.engine.revise, approval_id, arguments, like, run_id)
        if outs and all(isinstance(x, o.Notice) for x in outs):
            return render_all(outs)
        await self.deliver(conversation, render_all(outs))
        return []

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

        def owe() -> list[str]:
            with transaction(self.app.db) as s:
                keys = outbox.enqueue(s, key, self.channel, conversation, payloads)
                if finish:
                    inbox.finish_in(s, finish, status)
            return keys

        for k in await asyncio.to_thread(owe):
            await self.relay(k)

    async def relay(self, key: str, dead: Sequence[str] = ()) -> bool:
        """Post one owed reply if nobody alive is posting it; True when this call posted it."""
        db, owner = self.app.db, self.app.owner
        item = await asyncio.to_thread(outbox.claim, db, key, owner=owner.id, lease=owner.lease, dead=dead)
        if item is None:
            return False
        reply = from_payload(item.payload)
        try:
            ref = None
            if reply.replaces:
                ref = await asyncio.to_thread(refs.get, db, self.channel, reply.replaces)
            if ref is not None:
                await self.outbound.update(ref, reply)
                posted = None
            else:
                self.app.engine.faults.hit("before_post")
                posted = await self.outbound.send(item.conversation, reply)
        except Exception as exc:
            # The platform refused or could not be reached: a later sweep tries again, a few times.
            log.warning("posting %s failed (attempt %d): %s", key, item.attempts, exc)
            if item.attempts >= MAX_POST_ATTEMPTS:
                await asyncio.to_thread(outbox.failed, db, key, f"{type(exc).__name__}: {exc}")
            else:
                await asyncio.to_thread(outbox.release, db, key)
            return False
        self.app.engine.faults.hit("after_send")
        await asyncio.to_thread(outbox.sent, db, key, posted or None, reply.key if posted else None)
        self.app.engine.faults.hit("after_post")
        return True

    # ---- lifecycle ------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Process deliveries a crash left unfinished and post the replies it left owed (one sweep)."""
        await self.sweep(starting=True)
        await self.drain()

    async def sweep(self, starting: bool = False) -> None:
        """Take over what nobody alive works on: unfinished deliveries and clicks, and owed replies.

        Args:
            starting: At start-up every delivery never claimed is taken; later only those older than
                the lease (younger ones are on their way to a claim in the process that recorded them).
        """
        db, owner = self.app.db, self.app.owner

        def look() -> tuple[list[str], list[str], list[OutboxItem]]:
            dead = owner.dead_holders()
            keys = owner.claimable(self.channel, dead, starting)
            if self.click_channel:
                keys += owner.claimable(self.click_channel, dead, starting)
            since = None if starting else utcnow() - owner.lease
            return dead, keys, outbox.due(db, self.channel, dead, created_before=since)

        dead, keys, owed = await asyncio.to_thread(look)
        for key in keys:
            if key not in self._working:
                self._spawn(self._work(key, dead))
        if owed:
            self._spawn(self._relay_all([i.key for i in owed], dead))

    async def _work(self, key: str, dead: Sequence[str]) -> None:
        self._working.add(key)
        try:
            await self.process(key, dead)
        finally:
            self._working.discard(key)

    async def _relay_all(self, keys: list[str], dead: Sequence[str]) -> None:
        for key in keys:
            await self.relay(key, dead)

    async def run_sweeper(self) -> None:
        """Sweep every ``owner.sweep_s`` seconds until cancelled (each front door's background task)."""
        self.app.owner.start()
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a database hiccup: the next sweep tries again
                log.warning("%s: sweep failed", self.channel, exc_info=True)
            await asyncio.sleep(self.app.owner.sweep_s)

    def start_sweeper(self) -> None:
        """Start `run_sweeper` in the background (stopped by `close`)."""
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self.run_sweeper())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Stop the sweeper; release the engine threads (after `drain`)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._engine_pool.shutdown(wait=False, cancel_futures=True)
        self._ack_pool.shutdown(wait=False, cancel_futures=True)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until all work started so far has finished (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("dispatcher work did not finish in time")
            await asyncio.wait(set(self._tasks), timeout=left)


def _retry_home(db: Any, value: str) -> str | None:
    """Return the conversation a Retry belongs to: its failed job's, or its failed run's (None: unknown)."""
    from sqlmodel import Session

    from memory.job_tables import Job
    from memory.tables import Run

    with Session(db) as s:
        row = s.get(Job, value) if value.startswith("job_") else s.get(Run, value)
        return (row.conversation or None) if row is not None else None
