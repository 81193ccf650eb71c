"""Count tokens offline, to estimate a model call's cost before making it.

tiktoken downloads its encodings at run time and ships none, so it cannot count offline here. The
default is a conservative estimate from the text itself: ASCII characters / 3 plus 1.5 per non-ASCII
character. Measured against o200k_base and cl100k_base on our system prompt, tool specs and sample
messages in English, German and Chinese, the real counts were 0.8-1.9 x bytes/4; this estimate was at
or above both on every sample (tests/graph/test_tokens.py keeps those samples). With a tiktoken
encoding that loads (``COO_TIKTOKEN_ENCODING`` where tiktoken can fetch or has cached it) counts are
exact.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 4  # role and separators per chat message
REPLY_PRIMING = 3  # the tokens that start the assistant's reply


class TokenCounter(Protocol):
    """Anything that counts the tokens of a text."""

    name: str

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        ...


class CharEstimate:
    """An offline upper estimate from characters: ASCII / 3 + 1.5 per non-ASCII character."""

    name = "chars"

    def count(self, text: str) -> int:
        """Return the estimated number of tokens in ``text``."""
        non_ascii = sum(1 for ch in text if ord(ch) > 127)
        return math.ceil((len(text) - non_ascii) / 3 + non_ascii * 1.5)


class TiktokenCount:
    """Exact counts with a tiktoken encoding."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{encoding.name}"

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        return len(self._encoding.encode(text, disallowed_special=()))


def make_counter(tiktoken_encoding: str | None = None) -> TokenCounter:
    """Return a tiktoken counter when asked for one and its encoding loads, else the offline estimate."""
    if tiktoken_encoding:
        try:
            import tiktoken

            return TiktokenCount(tiktoken.get_encoding(tiktoken_encoding))
        except Exception as exc:  # noqa: BLE001 - no network or unknown name: estimate instead
            log.warning(
                "tiktoken encoding %s is unavailable (%s); estimating tokens from characters",
                tiktoken_encoding,
                type(exc).__name__,
            )
    return CharEstimate()


def count_prompt(
    counter: TokenCounter, messages: Sequence[tuple[str, str]], tools: Sequence[dict[str, Any]] = ()
) -> int:
    """Return the input tokens of a chat prompt: its messages (role, text) and its tool specs."""
    total = REPLY_PRIMING
    for role, text in messages:
        total += MESSAGE_OVERHEAD + counter.count(role) + counter.count(text)
    if tools:
        total += counter.count(json.dumps(list(tools), separators=(",", ":")))
    return total
