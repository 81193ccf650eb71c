"""Slack text in both directions: mrkdwn escaping on the way out, cleaning markup on the way in, splitting."""

from __future__ import annotations

import re
from collections.abc import Callable

_MENTION_PREFIX = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*)+")
_ANGLE = re.compile(r"<([^<>]*)>")


def escape(text: str) -> str:
    """Escape text for mrkdwn: the three characters Slack treats as control characters.

    After this, model output cannot produce links, mentions (``<!channel>``) or user pings.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of incoming message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(m: re.Match[str]) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target.startswith("@"):
        return f"@{label or target[1:]}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        return f"@{label or target[1:].split('^')[0]}"
    return target  # a URL: the address, not Slack's shortened label


def clean_incoming(text: str) -> str:
    """Turn a message's Slack markup into the plain text the engine reads.

    The leading bot mention of an app_mention is dropped; ``<mailto:a@b|a@b>`` becomes ``a@b``, links
    become their URL, mentions ``@name``; entities are unescaped last so escaped ``&lt;`` stays literal.
    """
    text = _MENTION_PREFIX.sub("", text)
    return unescape(_ANGLE.sub(_plain, text)).strip()


def split(text: str, limit: int, cost: Callable[[str], int] = len) -> list[str]:
    """Split text into pieces whose ``cost`` is at most ``limit``, at line breaks, else spaces.

    Args:
        text: The text to split.
        limit: The largest cost a piece may have.
        cost: How a piece is measured, e.g. its length once escaped.
    """
    pieces: list[str] = []
    rest = text
    while cost(rest) > limit:
        lo, hi = 1, len(rest)  # the longest prefix that fits, by bisection (cost is monotonic)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost(rest[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        for sep in ("\n", " "):
            at = rest.rfind(sep, 0, lo)
            if at > lo // 2:
                cut = at + 1
                break
        pieces.append(rest[:cut].rstrip("\n "))
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
