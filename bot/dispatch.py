"""The channel-neutral path between a chat platform and the engine.

An adapter verifies a request, calls `accept` (which records the delivery in the durable inbox, so a
duplicate stops there) and acknowledges at once; the engine then runs off the request path and the
replies go out through the adapter's `Outbound`. Clicks go through `click`. `recover` finishes what a
crash left: inbox items never processed, and decided approvals never carried out.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from bot.app import App
from bot.jobs import chat_job, job_command
from bot.messages import Reply
from bot.render import render_all
from graph import outcomes as o
from graph.errors import GraphError
from memory import eventlog, inbox, refs

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


Command = Callable[[App, str, str, str], Awaitable[list[Reply]] | list[Reply]]


class Dispatcher:
    """Accepts deliveries and clicks for one channel and delivers the engine's replies."""

    def __init__(self, app: App, channel: str, outbound: Outbound, engine_workers: int = 8) -> None:
        self.app = app
        self.channel = channel
        self.outbound = outbound
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

    async def process(self, key: str) -> None:
        """Run one recorded delivery through the engine and deliver the replies."""
        db = self.app.db
        if not await asyncio.to_thread(inbox.claim, db, key):
            return
        item = await asyncio.to_thread(inbox.get, db, key)
        if item is None:
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
                await self.deliver(item.conversation, replies)
                await asyncio.to_thread(inbox.finish, db, key, "done")
            except Exception:
                log.exception("processing %s failed", key)
                await asyncio.to_thread(inbox.finish, db, key, "failed")
                await self.deliver(
                    item.conversation,
                    [Reply(text="Something went wrong handling that message; it was logged.")],
                )

    async def click(self, click: Click) -> list[Reply]:
        """Handle a button press; return replies meant only for the clicker (e.g. a refusal)."""
        if not self.app.is_operator(click.actor):
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
            return [Reply(text=ELSEWHERE)]
        where = home or click.conversation  # the result goes where the card was posted
        if click.action in ("approve", "reject"):
            outs = await self._engine(engine.decide, click.value, click.action == "approve", click.actor)
        elif click.action == "undo":
            outs = await self._engine(engine.undo, click.value, click.actor, self.app.is_operator)
        elif click.action == "retry" and click.value.startswith("job_"):
            from bot.jobs import retry_job

            outs = await self._engine(retry_job, self.app, click.value)
        elif click.action == "retry":
            like = self.app.request(self.channel, click.conversation, click.actor, "")
            outs = await self._engine(engine.retry, click.value, like)
        else:
            return [Reply(text=f"Unknown button {click.action!r}.")]
        # A refusal (already decided, expired, not found) goes to the clicker only.
        if outs and all(isinstance(x, o.Notice) for x in outs):
            return render_all(outs)
        await self.deliver(where, render_all(outs))
        return []

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

    async def deliver(self, conversation: str, replies: list[Reply]) -> None:
        """Post replies in order; a reply that replaces a known message updates it in place."""
        for reply in replies:
            ref = None
            if reply.replaces:
                ref = await asyncio.to_thread(refs.get, self.app.db, self.channel, reply.replaces)
            if ref is not None:
                await self.outbound.update(ref, reply)
                continue
            posted = await self.outbound.send(conversation, reply)
            if reply.key and posted:
                await asyncio.to_thread(refs.put, self.app.db, self.channel, reply.key, posted)
            self.app.engine.faults.hit("after_post")

    # ---- lifecycle ------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Process deliveries a crash left unfinished and carry out decisions never resumed."""
        for item in await asyncio.to_thread(inbox.unfinished, self.app.db, self.channel):
            self._spawn(self.process(item.delivery_id))
        await self.drain()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Release the engine threads (after `drain`)."""
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
