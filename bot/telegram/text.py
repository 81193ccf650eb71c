"""Telegram text: HTML escaping of model text and splitting at the 4096-character limit."""

from __future__ import annotations

import html

LIMIT = 4096
_SEPARATORS = ("\n\n", "\n", " ")


def escape(text: str) -> str:
    """Escape text for parse_mode HTML (model text can never become markup)."""
    return html.escape(text, quote=False)


def _tokens(text: str, limit: int, level: int = 0) -> list[tuple[str, str]]:
    """Cut text into (separator before, piece) tokens, each fitting the limit once escaped.

    Cuts at the coarsest separator that is needed: paragraphs, then lines, then words, then hard.
    """
    if len(escape(text)) <= limit:
        return [("", text)]
    if level == len(_SEPARATORS):
        step = max(limit // 5, 1)  # escaping at most quintuples a character (& → &amp;)
        return [("", text[i : i + step]) for i in range(0, len(text), step)]
    sep = _SEPARATORS[level]
    out: list[tuple[str, str]] = []
    for i, part in enumerate(text.split(sep)):
        sub = _tokens(part, limit, level + 1)
        if i and sub:
            sub[0] = (sep, sub[0][1])
        out += sub
    return out


def render_parts(text: str, limit: int = LIMIT) -> list[str]:
    """Split plain text into escaped messages of at most ``limit`` characters.

    Each message holds as much as fits; cuts fall between paragraphs where possible.
    """
    chunks: list[str] = []
    for sep, piece in _tokens(text.strip() or "…", limit):
        esc = escape(piece)
        if chunks and len(chunks[-1]) + len(sep) + len(esc) <= limit:
            chunks[-1] += sep + esc
        else:
            chunks.append(esc)
    return [c for c in chunks if c.strip()] or ["…"]
