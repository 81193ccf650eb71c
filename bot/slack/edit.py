"""Edit on an approval card: a modal to change the action's arguments, which are then checked again.

Click ``edit`` → ack → views.open with one input per argument (its current value) → on submit the
arguments are validated against the operation's schema (errors shown in the modal) → the engine
replaces the card: the old one says "Edited by …", the edited action goes through policy again and
arrives as a new card (or a refusal).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.kwargs_injection.async_args import AsyncArgs

from agents.errors import AgentError, InvalidArguments
from bot.dispatch import refused
from bot.messages import Reply
from bot.slack import inbound
from bot.slack.text import escape
from graph.errors import GraphError
from memory.tables import Approval

if TYPE_CHECKING:
    from bot.slack.channel import SlackChannel

log = logging.getLogger(__name__)

CALLBACK_ID = "coo_edit"
MAX_INPUT = 3000  # plain_text_input's limit; longer values are shown but not editable here


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def modal(ap: Approval, conversation: str) -> dict[str, Any]:
    """Return the modal for an approval: one input per (editable) argument, prefilled."""
    action = ap.action
    inputs = []
    for name, value in action["arguments"].items():
        text = _as_text(value)
        if len(text) > MAX_INPUT:
            continue
        inputs.append(
            {
                "type": "input",
                "block_id": f"arg:{name}",
                "optional": True,
                "label": {"type": "plain_text", "text": name[:2000]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": text,
                    "multiline": len(text) > 80 or "\n" in text,
                },
            }
        )
    intro = f"*{escape(action['summary'])}*\nChanged arguments are checked again before a new card is shown."
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Edit the action"},
        "submit": {"type": "plain_text", "text": "Check again"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"approval": ap.id, "conversation": conversation}),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": intro[:3000]}}, *inputs],
    }


def read_arguments(view: dict[str, Any], original: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the submitted arguments (unedited ones kept) and per-block errors for unreadable values."""
    values = (view.get("state") or {}).get("values") or {}
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, old in original.items():
        block = values.get(f"arg:{name}")
        if block is None:
            out[name] = old
            continue
        raw = (block.get("value") or {}).get("value") or ""
        if isinstance(old, str):
            out[name] = raw
            continue
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            errors[f"arg:{name}"] = "Enter a JSON value (a number, true/false, a list …)"
    return out, errors


def schema_errors(exc: AgentError, arguments: dict[str, Any]) -> dict[str, str]:
    """Map a validation error onto the modal's input blocks (the first block when no field is named)."""
    errors: dict[str, str] = {}
    if isinstance(exc, InvalidArguments):
        for part in exc.detail.split("; "):
            field, _, message = part.partition(": ")
            if field in arguments:
                errors[f"arg:{field}"] = message[:150]
    if not errors and arguments:
        errors[f"arg:{next(iter(arguments))}"] = str(exc)[:150]
    return errors


class EditFlow:
    """The listeners for the ``edit`` button and the modal's submission."""

    CALLBACK_ID = CALLBACK_ID

    def __init__(self, channel: SlackChannel) -> None:
        self.channel = channel

    async def on_edit(self, args: AsyncArgs) -> None:
        """Start opening the modal (the click's trigger_id is valid for 3 s), then acknowledge.

        The work is started before the acknowledgement, so `drain` after the answer waits for it.
        """
        assert args.action is not None
        click = inbound.click_from(args.body, args.action)
        self.channel.spawn(self._open(click.conversation, click.actor, click.value, args.body["trigger_id"]))
        await args.ack()

    async def _open(self, conversation: str, actor: str, approval_id: str, trigger_id: str) -> None:
        app = self.channel.app
        refusal = refused(app, actor, "edit")
        if refusal is not None:
            for reply in refusal:
                await self.channel.tell(conversation, actor, reply)
            return
        why = await self.channel.dispatcher.stale(approval_id, conversation)
        if why is not None:
            await self.channel.tell(conversation, actor, Reply(text=why))
            return
        ap = await asyncio.to_thread(app.approvals.get, approval_id)
        await self.channel.client.views_open(trigger_id=trigger_id, view=modal(ap, conversation))

    async def on_submit(self, args: AsyncArgs) -> None:
        """Validate the edit (errors stay in the modal), acknowledge, then replace the card off the request path."""
        view = args.body["view"]
        meta = inbound.edit_metadata(view) or {}  # the request path let only readable metadata through
        app = self.channel.app
        try:
            ap = await asyncio.to_thread(app.approvals.get, meta.get("approval", ""))
        except GraphError as exc:
            await args.ack()
            await self.channel.tell(
                meta.get("conversation", ""), inbound.actor(args.body["user"]["id"]), Reply(text=str(exc))
            )
            return
        arguments, errors = read_arguments(view, ap.action["arguments"])
        if not errors:
            try:
                app.registry.propose(
                    f"{ap.action['agent']}.{ap.action['operation']}", arguments, run_id="check", index=0
                )
            except AgentError as exc:
                errors = schema_errors(exc, arguments)
        if errors:
            await args.ack(response_action="errors", errors=errors)
            return
        delivery = f"view:{view['id']}:{view.get('hash', '')}"
        conversation = meta.get("conversation") or ap.conversation
        actor = inbound.actor(args.body["user"]["id"])
        new = await self.channel.record_interaction(
            delivery, conversation, actor, f"edit {ap.id}", {"arguments": arguments}
        )
        if new:  # claimed and carried out like a click; a sweep takes it over if this process dies
            self.channel.dispatcher.later(f"{self.channel.dispatcher.click_channel}:{delivery}")
        await args.ack()
