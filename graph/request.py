"""A request to the engine: one message, already verified by its channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graph.state import Preset


@dataclass(frozen=True)
class Request:
    """One message to the engine, already verified by its channel.

    Attributes:
        channel: ``console``, ``slack`` or ``telegram``.
        conversation: The conversation key (Slack channel+thread, Telegram chat+topic, console session).
        actor: Who sent it, as ``channel:user``.
        text: What they said.
        deciders: Who may decide the approvals this request leads to.
        untrusted: Whether the text came from outside the operator (a webhook, an email).
        preset: Proposals fixed in advance (an edited card), planned without the model.
    """

    channel: str
    conversation: str
    actor: str
    text: str
    deciders: Sequence[str] = field(default_factory=tuple)
    untrusted: bool = False
    preset: Sequence[Preset] = field(default_factory=tuple)
