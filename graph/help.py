"""What `help` says: one entry per command, each with example lines that the grammar (or the channel) accepts.

The agents' entries come from their specs (``agents/<name>/``, joined by ``agents.catalog``); the
commands the channel answers are listed here. The text is rendered from these entries, and a test holds
them to the grammar both ways: every rule of the rule-based model matches an example here, and every
example of a ``rule`` entry matches a rule. A command added to the grammar without a help entry fails
that test, so help cannot drift.
"""

from __future__ import annotations

from agents.catalog import help_entries
from agents.spec import HelpEntry, Where

__all__ = ["CHAT", "ENTRIES", "HELP", "PLAIN", "Entry", "Where", "help_text"]


Entry = HelpEntry
"""One line of help (``agents.spec.HelpEntry``): usage, what it does, examples, who answers it."""

CHAT: tuple[Entry, ...] = (
    Entry("digest", "build the digest now (a job; its message updates as it goes)", ("digest",), "chat"),
    Entry("reindex", "rebuild the memory index from SQL (a job)", ("reindex",), "chat"),
    Entry(
        "approve [N] / reject [N]",
        "decide a card (a / r); with several waiting, say which",
        ("approve", "a 2", "reject 2", "r"),
        "chat",
    ),
    Entry("pending", "the cards waiting for a decision, numbered", ("pending",), "chat"),
    Entry("undo", "take back the last action that can be undone", ("undo",), "chat"),
    Entry("retry", "run the last failed action again", ("retry",), "chat"),
    Entry(
        "/status  /budget  /runs",
        "what runs, waits and failed; spend; recent runs",
        ("/status", "/budget", "/runs"),
        "chat",
    ),
    Entry("help", "this list", ("help",), "chat"),
    Entry("quit", "leave the console", ("quit",), "chat"),
)
"""The commands the channel answers itself (no agent owns them)."""

ENTRIES: tuple[Entry, ...] = (*help_entries(), *CHAT)
"""Every line of help: the agents' (from their specs, in ``agents.catalog`` order), then the channel's."""


PLAIN = (
    "Plain words work too (\"I spent $40 on printer ink\", \"what's my balance?\"): a change is shown on"
    " its card, as I understood it, before anything happens; when I am not sure, I ask \"did you mean\"."
)


def help_text(entries: tuple[Entry, ...] = ENTRIES) -> str:
    """Return the help message: every command, its form and what it does."""
    width = min(max(len(e.usage) for e in entries), 40)
    lines = ["I understand:"]
    for e in entries:
        if len(e.usage) > width:
            lines += [f"  {e.usage}", f"  {'':{width}}  {e.what}"]
        else:
            lines.append(f"  {e.usage:{width}}  {e.what}")
    lines.append(PLAIN)
    return "\n".join(lines)


HELP = help_text()
