"""The web console's one way into the engine: the front door's own verbs, so chat and web stay one.

A decision made in the web is a click on the card's button by the signed-in operator: it goes through
the channel's `Dispatcher` (``click`` for approve, reject, undo and retry; ``revise`` for edits;
``deliver`` for what a replay reports), so the chat card is updated in place exactly as when the button
is pressed in chat, and a decision made in chat is what the web then reads from the approval records.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import Any

from bot.app import App
from bot.dispatch import Click, Dispatcher
from bot.messages import Reply
from bot.notify import channel_of
from bot.render import render_all
from graph import outcomes as o
from graph.errors import GraphError

log = logging.getLogger(__name__)

_DOORS: weakref.WeakKeyDictionary[App, dict[str, Dispatcher]] = weakref.WeakKeyDictionary()


def _door(app: App, channel: str) -> Dispatcher | None:
    """Return a dispatcher posting through the outbound the channel registered (or its module offers)."""
    doors = _DOORS.setdefault(app, {})
    if channel not in doors:
        route = app.notifier._route(channel)  # the live channel's outbound (same client, same loop)
        if route is None:
            return None
        doors[channel] = Dispatcher(app, channel, route.outbound, engine_workers=2)
        app.on_close(doors[channel].close)
    return doors[channel]


def _home(app: App, action: str, value: str) -> str | None:
    """Return the conversation a button belongs to (the card's, the effect's, the failed run's)."""
    from sqlmodel import Session

    from memory import eventlog
    from memory.tables import Run

    if action in ("approve", "reject", "edit"):
        try:
            return app.approvals.get(value).conversation
        except GraphError:
            return None
    if action == "undo":
        return eventlog.conversation_of(app.db, value)
    with Session(app.db) as s:  # retry, replay
        run = s.get(Run, value)
        return run.conversation if run is not None else None


async def press(
    app: App,
    actor: str,
    action: str,
    value: str,
    *,
    arguments: dict[str, Any] | None = None,
    step: str | None = None,
) -> str:
    """Carry out a button of the web console as the front door does; return one sentence for the page.

    Args:
        app: The composition root.
        actor: The signed-in operator (``slack:U1``, ``console:local``).
        action: approve | reject | undo | retry | edit | replay.
        value: The approval id (approve, reject, edit), the effect's event id (undo) or the run id.
        arguments: The edited arguments (edit).
        step: The node to replay from (replay; None: the last checkpoint).
    """
    home = await asyncio.to_thread(_home, app, action, value)
    if home is None:
        return f"There is no {'approval' if action in ('approve', 'reject', 'edit') else 'run or effect'} {value}."
    door = _door(app, channel_of(home))
    if door is None:
        return f"The {channel_of(home)} channel is not running in this process; decide it there."
    delivery = f"web:{uuid.uuid4().hex}"
    private: list[Reply]
    if action == "edit":
        private = await door.revise(
            delivery_id=delivery, conversation=home, actor=actor, approval_id=value, arguments=arguments or {}
        )
    elif action == "replay":
        if not app.is_operator(actor):
            return "Only this workspace's operators can replay runs; nothing was changed."
        outs = await asyncio.to_thread(app.engine.replay, value, step)
        if not outs:
            return "Nothing was left to replay from there."
        replies = render_all(outs)
        notices = all(isinstance(x, o.Notice | o.Say) for x in outs)
        await door.deliver(home, replies, key=f"{door.channel}:replay:{delivery}")
        return " ".join(r.text for r in replies) if notices else "Replayed; the result was posted in chat."
    else:
        private = await door.click(Click(delivery, home, actor, action, value))
    if private:
        return " ".join(r.text for r in private)
    return {
        "approve": "Approved; the card in chat was updated.",
        "reject": "Rejected; the card in chat was updated.",
        "undo": "Undone; the message in chat was updated.",
        "retry": "Retried; the result was posted in chat.",
        "edit": "Edited; a new card was posted in chat, checked again.",
    }.get(action, "Done.")
