"""Neutral replies → Block Kit messages, within Slack's limits. Pure functions; no I/O.

Limits respected: a section's text ≤ 3000 characters, a header ≤ 150, a button label ≤ 75 and value
≤ 2000, ≤ 50 blocks per message and message text well under 40,000 characters. Every piece of reply
text is escaped for mrkdwn, so model output cannot form links or mentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.messages import Button, Card, Reply
from bot.slack.text import escape, split

SECTION_CHARS = 3000
HEADER_CHARS = 150
SECTIONS_PER_MESSAGE = 12  # 12 × 3000 = 36,000 characters of text, 13 blocks with the buttons
CARD_SECTIONS = 40

Block = dict[str, Any]
_STYLE = {"approve": "primary", "reject": "danger"}


@dataclass(frozen=True)
class SlackMessage:
    """One message as chat.postMessage / chat.update take it: fallback text and blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def _cost(piece: str) -> int:
    return len(escape(piece))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    """Return a mrkdwn section for already-escaped text."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def button(b: Button) -> Block:
    """Return a Block Kit button carrying the contract's action id and the approval/event id."""
    el: Block = {
        "type": "button",
        "action_id": b.action,
        "value": b.value[:2000],
        "text": {"type": "plain_text", "text": _truncate(b.label, 75)},
    }
    if b.action in _STYLE:
        el["style"] = _STYLE[b.action]
    return el


def actions(buttons: list[Button]) -> Block:
    """Return an actions block (at most 25 elements)."""
    elements: list[Block] = []
    for b in buttons[:25]:
        el = button(b)
        n = sum(e["action_id"].partition("-")[0] == b.action for e in elements)
        if n:  # action ids are unique within a block: the second choice is choose-2
            el["action_id"] = f"{b.action}-{n + 1}"
        elements.append(el)
    return {"type": "actions", "elements": elements}


def sections(text: str) -> list[Block]:
    """Return escaped sections for plain text, each within the section limit."""
    return [section(escape(p)) for p in split(text or "…", SECTION_CHARS, _cost)]


def with_edit(buttons: list[Button]) -> list[Button]:
    """Add Edit after Approve/Reject on an approval card: Slack can show a modal to change the arguments."""
    approve = next((b for b in buttons if b.action == "approve"), None)
    if approve is None or any(b.action == "edit" for b in buttons):
        return buttons
    return [*buttons, Button("edit", approve.value, "Edit")]


def field_sections(fields: list[tuple[str, str]]) -> list[str]:
    """Pack ``*Label:* value`` lines into section texts; a long value is split across sections."""
    out: list[str] = []
    cur = ""
    for label, value in fields:
        head = f"*{escape(label)}:* "
        for j, piece in enumerate(split(value, SECTION_CHARS - len(head), _cost)):
            line = (head if j == 0 else "") + escape(piece)
            if cur and len(cur) + 1 + len(line) > SECTION_CHARS:
                out.append(cur)
                cur = line
            else:
                cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out


def card_message(card: Card) -> SlackMessage:
    """Render an approval card: header, the fields, the footer and the buttons, as one message."""
    pieces = field_sections(card.fields)
    if len(pieces) > CARD_SECTIONS:
        pieces = pieces[:CARD_SECTIONS] + ["… (truncated; see `coo trace` for the whole card)"]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(card.title, HEADER_CHARS)}}
    ]
    blocks += [section(p) for p in pieces]
    if card.footer:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(card.footer)[:2000]}]}
        )
    if card.buttons:
        blocks.append(actions(with_edit(card.buttons)))
    return SlackMessage(text=escape(_truncate(card.title, SECTION_CHARS)), blocks=blocks)


def messages(reply: Reply) -> list[SlackMessage]:
    """Render a reply as one or more messages; buttons go on the last one."""
    if reply.card is not None:
        return [card_message(reply.card)]
    secs = sections(reply.text)
    out: list[SlackMessage] = []
    for i in range(0, len(secs), SECTIONS_PER_MESSAGE):
        group = secs[i : i + SECTIONS_PER_MESSAGE]
        out.append(SlackMessage(text="\n".join(b["text"]["text"] for b in group), blocks=list(group)))
    if reply.buttons:
        out[-1].blocks.append(actions(reply.buttons))
    return out


def single(reply: Reply) -> SlackMessage:
    """Render a reply as exactly one message (chat.update replaces one message), truncating if needed."""
    parts = messages(reply)
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    blocks = first.blocks + [section("… (truncated)")]
    if reply.buttons:
        blocks.append(actions(reply.buttons))
    return SlackMessage(text=first.text, blocks=blocks)
