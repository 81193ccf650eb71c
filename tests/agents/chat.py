"""Console helpers shared by the agents' scenario tests."""

from __future__ import annotations

from bot.console import ConsoleSession


def done(chat: ConsoleSession, line: str) -> str:
    """Send a line that asks first, approve it, and return the Done text."""
    [card] = chat.send(line)
    assert card.card is not None, card.text
    _, result = chat.send("approve")
    assert result.text.startswith("Done: "), result.text
    return result.text
