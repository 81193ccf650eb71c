"""What people type for each command: example phrasings beside the grammar line they stand for.

Each agent keeps its own tuple in its package (``agents/<name>/``, its spec's ``phrasings``); this
module holds the type and the commands the channel answers itself; ``agents.catalog.phrasings()``
joins them in the catalog's order. The rule-based model (``graph.intents``) finds the intent nearest to a line by sentence
similarity to these examples, fills the command's slots from the line, and runs the filled command
through the grammar, so a phrasing never reaches an operation by another road than the grammar's.

A command is a grammar line with slots: ``{amount}`` must be found in the line, ``{memo?}`` may be
missing. The free-text slots (``memo``, ``text``, ``query``, ``title``, ``topic``, ``name``) take what
is left of the line once the other slots are taken out and the intent's ``cues`` are dropped from its
start. Examples are written as people type them, and are never the evaluation lines
(``tests/graph/intent_eval.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["write", "read", "chat"]
"""``write``: goes through its card; ``read``: answered at once; ``chat``: answered by the channel,
so the rule-based model only ever offers it ("Did you mean `undo`?")."""

FREE_SLOTS = frozenset({"memo", "text", "query", "title", "topic", "name"})
_SLOT = re.compile(r"\{(\w+)(\?)?\}")


@dataclass(frozen=True)
class Phrasing:
    """One intent: the command it stands for and how people say it.

    Attributes:
        key: The operation (``bookkeeping.record_expense``) or channel command (``chat.undo``).
        command: The grammar line with slots, e.g. ``expense {amount} {memo?}``.
        kind: Write, read or chat (see ``Kind``).
        examples: Lines people type for it.
        cues: Words that say which command it is, dropped from either end of the free text.
        words: The command's own words (``expense``, ``spent``): a line that has one (or a word one
            typo away) leans towards it.
    """

    key: str
    command: str
    kind: Kind
    examples: tuple[str, ...]
    cues: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()

    @property
    def slots(self) -> tuple[tuple[str, bool], ...]:
        """Return the command's slots as (name, required), in order."""
        return tuple((m[1], not m[2]) for m in _SLOT.finditer(self.command))


def phrasing(
    key: str, command: str, kind: Kind, examples: tuple[str, ...], cues: str = "", words: str = ""
) -> Phrasing:
    """Return a phrasing; ``cues`` and ``words`` are space-separated."""
    return Phrasing(key, command, kind, examples, frozenset(cues.split()), frozenset(words.split()))


CHANNEL: tuple[Phrasing, ...] = (
    phrasing("chat.help", "help", "read", ("what can you do", "how does this work", "what commands are there")),
    phrasing(
        "chat.undo",
        "undo",
        "chat",
        ("undo that", "take that back", "oops, revert the last one"),
        words="undo revert",
    ),
    phrasing("chat.approve", "approve", "chat", ("yes do it", "go ahead", "ok approved"), words="approve"),
    phrasing("chat.reject", "reject", "chat", ("no don't", "cancel that card", "nope, reject it"), words="reject"),
    phrasing(
        "chat.pending",
        "pending",
        "chat",
        ("what is waiting for me", "which cards are open"),
        words="pending waiting",
    ),
    phrasing(
        "chat.status",
        "/status",
        "chat",
        ("what's running", "is anything stuck", "what failed"),
        words="status running stuck",
    ),
    phrasing(
        "chat.budget",
        "/budget",
        "chat",
        ("how much have I spent on AI", "what's my model budget"),
        words="budget",
    ),
    phrasing(
        "chat.digest",
        "digest",
        "chat",
        ("send me the digest now", "morning briefing please"),
        words="digest briefing",
    ),
)
