"""Channel-neutral replies: text, cards and buttons that each adapter renders its own way."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

ButtonAction = Literal["approve", "reject", "edit", "undo", "retry", "choose"]


@dataclass(frozen=True)
class Button:
    """A button: its action id (the contract), the approval/event/run id it acts on, and its label."""

    action: ButtonAction
    value: str
    label: str


@dataclass(frozen=True)
class Card:
    """A structured message: a title, labelled fields and buttons."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    footer: str = ""
    advisory: bool = False  # an advisory card (``render.is_advisory``): its buttons are a verdict, Right / Wrong


@dataclass(frozen=True)
class Reply:
    """One message to post, or an update to one posted before.

    Attributes:
        text: The message text (plain; adapters escape it for their markup).
        card: A card, when the reply is structured.
        buttons: Buttons under a plain text reply.
        replaces: ``approval:<id>`` or ``event:<id>`` when this updates an earlier message in place.
        key: ``approval:<id>`` or ``event:<id>`` naming this message, so a later reply can replace it.
        image: A PNG to show with the text where the channel can (a Slack file upload, a Telegram
            photo); channels that cannot show images show the text alone.
        image_name: The image's file name, e.g. ``budget.png``.
    """

    text: str = ""
    card: Card | None = None
    buttons: list[Button] = field(default_factory=list)
    replaces: str | None = None
    key: str | None = None
    image: bytes | None = None
    image_name: str = ""


def to_payload(reply: Reply) -> dict[str, Any]:
    """Return a reply as JSON-able data (the outbox stores replies this way)."""
    doc = asdict(reply)
    doc["image"] = base64.b64encode(reply.image).decode() if reply.image else None
    return doc


def from_payload(doc: dict[str, Any]) -> Reply:
    """Return the reply `to_payload` made."""

    def buttons(items: list[dict[str, Any]]) -> list[Button]:
        return [Button(**b) for b in items]

    card = doc.get("card")
    return Reply(
        text=doc.get("text", ""),
        card=Card(
            title=card["title"],
            fields=[(k, v) for k, v in card.get("fields", [])],
            buttons=buttons(card.get("buttons", [])),
            footer=card.get("footer", ""),
            advisory=bool(card.get("advisory", False)),
        )
        if card
        else None,
        buttons=buttons(doc.get("buttons", [])),
        replaces=doc.get("replaces"),
        key=doc.get("key"),
        image=base64.b64decode(doc["image"]) if doc.get("image") else None,
        image_name=doc.get("image_name", ""),
    )


class Outbound(Protocol):
    """How a channel posts and updates messages (Slack: Block Kit; Telegram: inline keyboards; console: text)."""

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        """Post a reply; return a reference to the posted message (for later updates)."""
        ...

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        """Replace a posted message in place."""
        ...
