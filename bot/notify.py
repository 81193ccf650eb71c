"""Posting into conversations from outside a request, and the relay every front door posts with.

Jobs, the digest scheduler, hooks and the CLI post through the Notifier.
``Notifier.deliver(conversation, replies)`` owes the replies in the outbox (``memory/outbox.py``), then
relays them by the conversation's prefix (``console:``, ``slack:``, ``telegram:``) to that channel's
``Outbound`` (see ``bot/messages.py``), posting new messages and editing keyed ones in place through
``memory/refs``: a job's progress is one message, edited. `owe` writes them inside a caller's
transaction instead (a job's result with the job marked done, a hook's card with its delivery). A reply
owed but not posted (a crash, no channel running here) is posted by the channel's sweep in `coo serve`.
Channels register their outbound (``notifier.register("slack", outbound, loop)``); a channel
module may instead offer ``outbound(app) -> Outbound | None``, used on first need (the CLI has no
server running). The Notifier is also the jobs' reporter: progress, results and failures with Retry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.messages import Reply, from_payload, to_payload
from bot.render import render, render_all
from graph import outcomes as o
from graph.jobs.kinds import JobInfo, JobResult
from memory import outbox, refs
from memory.db import transaction

if TYPE_CHECKING:
    from bot.messages import Outbound
    from graph.faults import Faults
    from memory.owner import Owner

log = logging.getLogger(__name__)

Factory = Callable[[str], "Outbound | None"]


@dataclass
class _Route:
    outbound: Outbound
    loop: asyncio.AbstractEventLoop | None


def channel_of(conversation: str) -> str:
    """Return the channel a conversation key belongs to (its prefix)."""
    return conversation.split(":", 1)[0]


MAX_POST_ATTEMPTS = 5  # a reply the platform keeps refusing is given up (failed) after this many tries


def owe(s: Session, key: str, conversation: str, replies: list[Reply]) -> list[str]:
    """Owe replies to a conversation inside the caller's transaction; return their outbox keys.

    ``key`` is the idempotency key of what produced them: the same work owes its replies once.
    """
    return outbox.enqueue(s, key, channel_of(conversation), conversation, [to_payload(r) for r in replies])


async def relay(
    db: Engine,
    owner: Owner,
    outbound: Outbound,
    key: str,
    *,
    dead: Sequence[str] = (),
    faults: Faults | None = None,
) -> bool:
    """Post one owed reply if nobody alive is posting it; True when this call posted it.

    A reply that replaces a known message updates it in place; a keyed one has its message reference
    stored with the item, in one transaction, so a later reply can replace it.
    """
    hit = faults.hit if faults is not None else (lambda _point: None)
    item = await asyncio.to_thread(outbox.claim, db, key, owner=owner.id, lease=owner.lease, dead=dead)
    if item is None:
        return False
    reply = from_payload(item.payload)
    try:
        ref = await asyncio.to_thread(refs.get, db, item.channel, reply.replaces) if reply.replaces else None
        if ref is not None:
            await outbound.update(ref, reply)
            posted = ref if reply.key and reply.key != reply.replaces else None  # known now under its key too
        else:
            hit("before_post")
            posted = await outbound.send(item.conversation, reply)
    except Exception as exc:
        # The platform refused or could not be reached: a later sweep tries again, a few times.
        log.warning("posting %s failed (attempt %d): %s", key, item.attempts, exc)
        if item.attempts >= MAX_POST_ATTEMPTS:
            await asyncio.to_thread(outbox.failed, db, key, f"{type(exc).__name__}: {exc}")
        else:
            await asyncio.to_thread(outbox.release, db, key)
        return False
    hit("after_send")
    await asyncio.to_thread(outbox.sent, db, key, posted or None, reply.key if posted else None)
    hit("after_post")
    return True


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class Notifier:
    """Delivers replies to any conversation, from any thread, and reports jobs."""

    def __init__(
        self,
        db: Engine,
        *,
        factory: Factory | None = None,
        timeout_s: float = 30.0,
        owner: Callable[[], Owner] | None = None,
    ) -> None:
        self.db = db
        self.factory = factory
        self._owner = owner  # this process's identity for outbox claims (the App's, once it exists)
        self.timeout_s = timeout_s
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    def register(
        self, channel: str, outbound: Outbound, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Route a channel's messages to ``outbound``; its coroutines run on ``loop`` when given."""
        with self._lock:
            self._routes[channel] = _Route(outbound, loop)

    def unregister(self, channel: str) -> None:
        """Stop routing a channel."""
        with self._lock:
            self._routes.pop(channel, None)

    def _route(self, channel: str) -> _Route | None:
        with self._lock:
            route = self._routes.get(channel)
        if route is None and self.factory is not None:
            outbound = self.factory(channel)
            if outbound is not None:
                self.register(channel, outbound)
                return _Route(outbound, None)
        return route

    @property
    def owner(self) -> Owner:
        """This process's owner (outbox claims)."""
        if self._owner is None:
            from memory.owner import Owner

            owner = Owner(self.db)
            self._owner = lambda: owner
        return self._owner()

    def deliver(self, conversation: str, replies: list[Reply], *, key: str | None = None) -> None:
        """Owe replies in the outbox, then post them in order; a reply that replaces a known message edits it.

        It blocks until the channel answered: call it from a thread (jobs, the CLI), or from async
        code through ``asyncio.to_thread``.

        Args:
            conversation: Where.
            replies: What.
            key: The idempotency key of what produced them (replies owed before under it are posted
                as they were owed, not again).

        Raises:
            LookupError: No outbound is known for the conversation's channel (nothing is owed then).
        """
        if not replies:
            return
        channel = channel_of(conversation)
        if self._route(channel) is None:  # nothing is owed where no channel could ever post it
            raise LookupError(f"no outbound for channel {channel!r}")
        key = key or f"{channel}:note:{uuid.uuid4().hex}"
        with transaction(self.db) as s:
            keys = owe(s, key, conversation, replies)
        self.relay(conversation, keys)

    def relay(self, conversation: str, keys: list[str]) -> None:
        """Post replies owed to a conversation (see `deliver`), in order."""
        channel = channel_of(conversation)
        route = self._route(channel)
        if route is None:
            raise LookupError(f"no outbound for channel {channel!r}")
        for key in keys:
            item = outbox.get(self.db, key)
            target = None
            if item is not None:
                target = item.payload.get("replaces") or item.payload.get("key")
            lock = self._key_lock(channel, target) if target else threading.Lock()
            with lock:  # a job's progress edits reach its message in order
                self._run(route, relay(self.db, self.owner, route.outbound, key))

    def relay_owed(self, channel: str) -> int:
        """Post what a channel was owed and nobody posted (a crash, or no channel running then)."""
        route = self._route(channel)
        if route is None:
            return 0
        items = outbox.due(self.db, channel)
        for item in items:
            self._run(route, relay(self.db, self.owner, route.outbound, item.key))
        return len(items)

    def _key_lock(self, channel: str, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault((channel, key), threading.Lock())

    def _run(self, route: _Route, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError("Notifier.deliver blocks: from async code, call it via asyncio.to_thread")
        if route.loop is not None and route.loop.is_running():
            return asyncio.run_coroutine_threadsafe(coro, route.loop).result(self.timeout_s)
        return asyncio.run(coro)

    def _tell(self, job: JobInfo, replies: list[Reply], key: str | None = None) -> None:
        if not job.conversation:
            return
        try:
            self.deliver(job.conversation, replies, key=key)
        except LookupError as exc:
            log.info(
                "job %s: %s; its message stays owed: %s", job.id, exc, replies[0].text[:80] if replies else ""
            )

    # ---- the jobs' reporter ---------------------------------------------------------------------

    def progress(self, job: JobInfo, text: str) -> None:
        """Edit the job's message to show its progress."""
        self._tell(job, [Reply(text=text, key=job.message_key, replaces=job.message_key)])

    def finished(self, job: JobInfo, result: JobResult) -> None:
        """Put the result in the job's message and post what comes with it in the same conversation.

        When the runner owed them with the job marked done (`owe_finished`), they are posted as owed.
        """
        self._tell(job, self._result(job, result), key=self._result_key(job))

    def owe_finished(self, s: Session, job: JobInfo, result: JobResult) -> None:
        """Owe a job's result in the transaction that marks it done (posted by `finished`, or a sweep)."""
        if job.conversation:
            owe(s, self._result_key(job), job.conversation, self._result(job, result))

    @staticmethod
    def _result_key(job: JobInfo) -> str:
        return f"job:{job.id}:result"

    @staticmethod
    def _result(job: JobInfo, result: JobResult) -> list[Reply]:
        if not result.text and not result.outcomes:
            return []  # a job with nothing to say (a quiet playbook run) posts nothing
        return [
            Reply(text=result.text, key=job.message_key, replaces=job.message_key),
            *render_all(result.outcomes),
        ]

    def failed(self, job: JobInfo, error: str, retry_in_s: float | None) -> None:
        """Say an attempt failed; when it was the last, post the error with a Retry button."""
        title = _capital(job.title)
        if retry_in_s is not None:
            text = f"{title} failed (attempt {job.attempt} of {job.max_attempts}): {error}. Trying again in {retry_in_s:g} s."
            self._tell(job, [Reply(text=text, key=job.message_key, replaces=job.message_key)])
            return
        self._tell(
            job,
            [
                Reply(text=f"{title} failed.", key=job.message_key, replaces=job.message_key),
                render(o.Failed(job.id, f"{title} failed after {job.attempt} attempt(s): {error}.")),
            ],
            key=f"job:{job.id}:dead:{job.attempt}",
        )


class ConsoleOutbound:
    """The console's outbound: prints messages as they come (edits are printed as new lines)."""

    def __init__(
        self, out: TextIO, format_reply: Callable[[Reply], str], lock: threading.Lock | None = None
    ) -> None:
        self.out = out
        self.format_reply = format_reply
        self._lock = lock or threading.Lock()
        self._n = 0

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        """Print a new message."""
        with self._lock:
            self._n += 1
            self.out.write(self.format_reply(reply) + "\n")
            self.out.flush()
            return {"console": self._n}

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        """Print an edited message (a terminal cannot rewrite old lines)."""
        with self._lock:
            self.out.write(self.format_reply(reply) + "\n")
            self.out.flush()
