"""The action contract: what an agent may propose and how the engine executes and undoes it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session


class SideEffect(StrEnum):
    """How much an operation changes the world."""

    READ = "read"
    REVERSIBLE = "reversible"
    IRREVERSIBLE = "irreversible"


def canonical_json(value: Any) -> str:
    """Serialise a value the same way every time (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def as_clause(summary: str) -> str:
    """Return a card's summary to follow "Could not …" ("Mark INV-1 paid" -> "mark INV-1 paid"; "POST" kept)."""
    return summary if summary[1:2].isupper() else summary[:1].lower() + summary[1:]


def joined(word: str, text: str) -> str:
    """Return `` <word> <text>`` for a card title, without doubling a word the text starts with.

    ``joined("for", "for printer ink")`` is `` for printer ink``, not `` for for printer ink``;
    an empty text gives ``""``.
    """
    text = text.strip()
    if not text:
        return ""
    first = text.split(None, 1)[0].lower()
    return f" {text}" if first in {word.lower(), "for", "from", "to", "on"} else f" {word} {text}"


class Action(BaseModel):
    """A typed proposal: one operation of one agent, with everything policy and the card need."""

    model_config = ConfigDict(frozen=True)

    agent: str
    operation: str
    arguments: dict[str, Any]
    summary: str
    changes: str
    side_effect: SideEffect
    reversible: bool
    cost_estimate_usd: float = 0.0
    idempotency_key: str
    amount_cents: int | None = None
    untrusted_source: bool = False

    @property
    def name(self) -> str:
        """Return the registry key, ``agent.operation``."""
        return f"{self.agent}.{self.operation}"

    def digest(self) -> str:
        """Return the hash an approval is bound to: the exact operation, arguments and key."""
        body = canonical_json([self.agent, self.operation, self.arguments, self.idempotency_key])
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class ExecContext:
    """What an operation gets when it runs: the open transaction and who and why.

    ``untrusted`` is set when the run had read content from outside the operator; what such a run
    writes must be labelled so.
    """

    session: Session
    run_id: str
    actor: str
    idempotency_key: str
    conversation: str = ""
    untrusted: bool = False


@dataclass
class Outcome:
    """What an operation did: words for the operator, a payload for the log, and its compensation."""

    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    compensation: dict[str, Any] | None = None


@dataclass(frozen=True)
class RawProposal:
    """An unvalidated proposal: a tool name and its arguments as the planner produced them."""

    key: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class AgentPrompt:
    """What an agent tells the model planner about its tools, with the version recorded on every run."""

    agent: str
    version: str
    text: str


A = TypeVar("A", bound=BaseModel)


@dataclass(frozen=True)
class Operation(Generic[A]):
    """One thing an agent can do.

    Attributes:
        agent: The agent's name.
        name: The operation's name within the agent.
        description: What it does, for the model's tool list.
        args: The pydantic model its arguments must fit.
        side_effect: Read, reversible write or irreversible.
        summarize: Renders the intent in one line from validated arguments.
        changes: Renders what will change, from validated arguments.
        execute: Performs it inside the given transaction.
        compensate: Takes it back from the payload it recorded (reversible writes only).
        amount_cents: The money it moves, for amount limits (None when it moves none).
        offered: Whether planners may propose it (compensations are not offered).
        expand: For a proposal that stands for another (``send draft 2``): reads the workspace at
            planning and returns the operation and arguments to propose instead, so the card,
            policy and approval see the real action. It must change nothing; ``execute`` never runs.
        precheck: What can be known before approval, checked when the action is proposed (the
            invoice exists and is open, email is configured, ...): reads the workspace and raises
            ``ValueError`` or ``LookupError`` with the reason, which the operator sees instead of a
            card. It must change nothing. ``execute`` still checks again: the world may change
            between the card and the approval.
    """

    agent: str
    name: str
    description: str
    args: type[A]
    side_effect: SideEffect
    summarize: Callable[[A], str]
    changes: Callable[[A], str]
    execute: Callable[[ExecContext, A], Outcome]
    compensate: Callable[[ExecContext, dict[str, Any]], Outcome] | None = None
    amount_cents: Callable[[A], int | None] = lambda _a: None
    offered: bool = True
    expand: Callable[[Session, A], tuple[str, dict[str, Any]]] | None = None
    precheck: Callable[[Session, A], None] | None = None

    @property
    def key(self) -> str:
        """Return the registry key, ``agent.operation``."""
        return f"{self.agent}.{self.name}"

    @property
    def tool_name(self) -> str:
        """Return a tool name the OpenAI API accepts (no dots)."""
        return f"{self.agent}__{self.name}"
