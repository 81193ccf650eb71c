"""Small talk for the rule-based model: a greeting gets a welcome with things to try, thanks a short reply.

Without a model, "hi" used to get "I did not understand that", a poor first contact. These answers are
fixed text (no model, no cost); with a model configured, small talk goes to the model instead.
"""

from __future__ import annotations

import re

_NAME = r"(?:\s+(?:coo|there|team|everyone))?"
_END = r"[\s!.,:)\-]*"
_GREETING = re.compile(
    rf"^(?:hi+|hello+|hey+|hiya|howdy|yo|hallo|greetings|good\s+(?:morning|afternoon|evening)|morning)"
    rf"{_NAME}{_END}$",
    re.I,
)
_THANKS = re.compile(
    rf"^(?:(?:ok(?:ay)?|great|perfect|awesome|nice|cool)[\s,!.]+)?"
    rf"(?:thanks+|thank\s+you|thx|ty|cheers|much\s+appreciated)(?:\s+(?:a\s+lot|so\s+much|very\s+much))?"
    rf"{_NAME}{_END}$",
    re.I,
)

TRY = (
    "spent 40 on printer ink",
    "invoice Acme 1200 website",
    "task call Priya friday",
    "remember Priya prefers email",
    "balance",
)
"""Lines a newcomer can type as they are (a test runs each through the grammar)."""

WELCOME = (
    "Hi, I am coo. Tell me what happened or what you need, in plain words. For example:\n"
    + "\n".join(f"• `{line}`" for line in TRY)
    + "\nI ask before I change anything, and you can undo what I did. Type `help` for everything."
)
WELCOME_BACK = "You're welcome. Anything else? Type `help` to see what I can do."


def answer(text: str) -> str | None:
    """Return the reply to a greeting or a thank-you, or None for anything else."""
    line = text.strip()
    if _GREETING.match(line):
        return WELCOME
    if _THANKS.match(line):
        return WELCOME_BACK
    return None
