"""Slack payloads → channel-neutral messages and clicks. Pure functions; no I/O.

Which events count as a request:
- ``message`` in a DM (``channel_type == "im"``, the ``message.im`` subscription);
- ``app_mention`` in a channel (a DM mention also arrives as ``message.im``, so it is dropped here).
Anything with a ``subtype`` (edits, deletions, bot messages, joins, ...), from a bot, or without a user
never starts a run. Slack threads are conversations: ``slack:<channel>:<thread_ts of the root>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bot.dispatch import Click
from bot.slack.text import clean_incoming

CHANNEL = "slack"


@dataclass(frozen=True)
class Incoming:
    """A message that should reach the engine."""

    delivery_id: str
    conversation: str
    actor: str
    text: str


def well_formed(body: bytes, content_type: str) -> bool:
    """Tell whether a verified request body has a shape bolt and our listeners can read.

    That is a JSON object (an event_callback carrying an event object), a form whose ``payload`` is an
    interaction of a known shape, a slash-command form, or Slack's ``ssl_check`` form.
    """
    try:
        if content_type.startswith("application/json"):
            doc = json.loads(body)
            if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
                return False
            if "event" in doc or doc["type"] == "event_callback":
                return isinstance(doc.get("event"), dict) and _scalars(
                    doc["event"], ("type", "user", "channel", "ts", "thread_ts", "text", "channel_type")
                )
            return doc["type"] != "url_verification" or isinstance(doc.get("challenge"), str)
        form = parse_qs(body.decode(), strict_parsing=True, keep_blank_values=True)
        if "payload" in form:
            return _interaction(json.loads(form["payload"][0]))
        if "command" in form:
            return all(isinstance(form.get(k, [None])[0], str) for k in ("command", "user_id", "channel_id"))
        return "ssl_check" in form
    except (ValueError, RecursionError):  # RecursionError: JSON nested tens of thousands deep
        return False


def _scalars(d: dict[str, object], keys: tuple[str, ...]) -> bool:
    """Tell whether the given keys, where present, hold strings (what Slack sends and bolt assumes)."""
    return all(isinstance(d[k], str) for k in keys if k in d)


def _interaction(p: object) -> bool:
    """Accept only the interactions coo answers (buttons, its edit modal), in the shape Slack sends."""
    if not isinstance(p, dict) or p.get("type") not in ("block_actions", "view_submission"):
        return False
    user = p.get("user")
    if not (isinstance(user, dict) and isinstance(user.get("id"), str)):
        return False
    if p["type"] == "block_actions":
        actions = p.get("actions")
        return (
            isinstance(actions, list)
            and bool(actions)
            and all(
                isinstance(a, dict)
                and isinstance(a.get("action_id"), str)
                and _scalars(a, ("value", "action_ts", "block_id"))
                for a in actions
            )
            and all(isinstance(p.get(k, {}), dict) for k in ("container", "channel", "message", "team"))
        )
    view = p.get("view")
    return (
        isinstance(view, dict)
        and all(isinstance(view.get(k, {}), dict) for k in ("state",))
        and _scalars(view, ("id", "hash", "callback_id"))
        and edit_metadata(view) is not None
    )


def edit_metadata(view: dict[str, Any]) -> dict[str, str] | None:
    """Return the edit modal's ``private_metadata`` (approval and conversation), or None if unreadable."""
    raw = view.get("private_metadata") or "{}"
    try:
        meta = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or not all(
        isinstance(meta.get(k, ""), str) for k in ("approval", "conversation")
    ):
        return None
    return {"approval": meta.get("approval", ""), "conversation": meta.get("conversation", "")}


def conversation_key(channel: str, thread_ts: str | None) -> str:
    """Return the conversation key of a Slack thread (or of a whole channel, without a thread)."""
    return f"{CHANNEL}:{channel}:{thread_ts}" if thread_ts else f"{CHANNEL}:{channel}"


def parse_conversation(key: str) -> tuple[str, str | None]:
    """Split a conversation key into the Slack channel id and the thread ts (None: not in a thread)."""
    prefix, _, rest = key.partition(":")
    if prefix != CHANNEL or not rest:
        raise ValueError(f"not a Slack conversation: {key!r}")
    channel, _, thread = rest.partition(":")
    return channel, thread or None


def actor(user_id: str) -> str:
    """Return the engine's actor id for a Slack user."""
    return f"{CHANNEL}:{user_id}"


def from_event(body: dict[str, Any]) -> Incoming | None:
    """Return the request in an Events API callback, or None when it must not start anything."""
    event = body.get("event") or {}
    event_id = body.get("event_id")
    kind, channel, user = event.get("type"), event.get("channel") or "", event.get("user")
    if not event_id or not user or not channel or event.get("subtype") or event.get("bot_id"):
        return None
    if kind == "message" and event.get("channel_type") != "im":
        return None
    if kind == "app_mention" and channel.startswith("D"):
        return None
    if kind not in ("message", "app_mention"):
        return None
    text = clean_incoming(event.get("text") or "") or "help"
    thread = event.get("thread_ts") or event.get("ts")
    return Incoming(str(event_id), conversation_key(channel, thread), actor(user), text)


def click_from(body: dict[str, Any], action: dict[str, Any]) -> Click:
    """Return the click in a block_actions payload; its id is stable across redeliveries of one click."""
    user = (body.get("user") or {}).get("id", "")
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    message_ts = container.get("message_ts") or message.get("ts")
    thread = message.get("thread_ts") or container.get("thread_ts") or message_ts
    delivery = ":".join(
        ["click", channel, str(message_ts), action.get("action_id", ""), user, str(action.get("action_ts"))]
    )
    return Click(
        delivery_id=delivery,
        conversation=conversation_key(channel, thread),
        actor=actor(user),
        action=action.get("action_id", ""),
        value=action.get("value", ""),
    )
