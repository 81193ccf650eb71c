"""Posting into conversations from outside a request: jobs, the digest scheduler, the CLI.

``Notifier.deliver(conversation, replies)`` routes by the conversation's prefix (``console:``,
``slack:``, ``telegram:``) to that channel's ``Outbound`` (see ``bot/messages.py``), posting new
messages and editing keyed ones in place through ``memory/refs``: a job's progress is one message,
edited. Channels register their outbound (``notifier.register("slack", outbound, loop)``); a channel
module may instead offer ``outbound(app) -> Outbound | None``, used on first need (the CLI has no
server running). The Notifier is also the jobs' reporter: progress, results and failures with Retry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.engine import Engine

from bot.messages import Reply
from bot.render import render, render_all
from graph import outcomes as o
from graph.jobs.kinds import JobInfo, JobResult
from memory import refs

if TYPE_CHECKING:
    from bot.messages import Outbound

log = logging.getLogger(__name__)

Factory = Callable[[str], "Outbound | None"]


@dataclass
class _Route:
    outbound: Outbound
    loop: asyncio.AbstractEventLoop | None


def channel_of(conversation: str) -> str:
    """Return the channel a conversation key belongs to (its prefix)."""
    return conversation.split(":", 1)[0]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class Notifier:
    """Delivers replies to any conversation, from any thread, and reports jobs."""

    def __init__(self, db: Engine, *, factory: Factory | None = None, timeout_s: float = 30.0) -> None:
        self.db = db
        self.factory = factory
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

    def deliver(self, conversation: str, replies: list[Reply]) -> None:
        """Post replies in order; a reply that replaces a known message edits it instead.

        It blocks until the channel answered: call it from a thread (jobs, the CLI), or from async
        code through ``asyncio.to_thread``.

        Raises:
            LookupError: No outbound is known for the conversation's channel.
        """
        channel = channel_of(conversation)
        route = self._route(channel)
        if route is None:
            raise LookupError(f"no outbound for channel {channel!r}")
        for reply in replies:
            target = reply.replaces or reply.key
            lock = self._key_lock(channel, target) if target else threading.Lock()
            with lock:
                ref = refs.get(self.db, channel, reply.replaces) if reply.replaces else None
                if ref is not None:
                    self._run(route, route.outbound.update(ref, reply))
                    posted: dict[str, Any] | None = ref
                else:
                    posted = self._run(route, route.outbound.send(conversation, reply))
                if reply.key and posted and reply.key != (reply.replaces if ref is not None else None):
                    refs.put(self.db, channel, reply.key, posted)

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

    def _tell(self, job: JobInfo, replies: list[Reply]) -> None:
        if not job.conversation:
            return
        try:
            self.deliver(job.conversation, replies)
        except LookupError as exc:
            log.warning(
                "job %s: %s; message dropped: %s", job.id, exc, replies[0].text[:80] if replies else ""
            )

    # ---- the jobs' reporter ---------------------------------------------------------------------

    def progress(self, job: JobInfo, text: str) -> None:
        """Edit the job's message to show its progress."""
        self._tell(job, [Reply(text=text, key=job.message_key, replaces=job.message_key)])

    def finished(self, job: JobInfo, result: JobResult) -> None:
        """Put the result in the job's message and post what comes with it in the same conversation."""
        self._tell(
            job,
            [
                Reply(text=result.text, key=job.message_key, replaces=job.message_key),
                *render_all(result.outcomes),
            ],
        )

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
