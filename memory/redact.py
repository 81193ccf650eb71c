"""Keep secrets out of every store: mask known secret values and token-shaped strings.

Masking keeps the length (``*`` for every character), so it can be applied to serialized bytes
(msgpack, JSON) without breaking their framing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Shapes of credentials that must never be stored even when we were not told the value.
TOKEN_PATTERNS = [
    r"xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens
    r"xapp-[A-Za-z0-9-]{10,}",  # Slack app-level tokens
    r"\bsk-[A-Za-z0-9_-]{16,}",  # OpenAI-style keys
    r"\b\d{6,12}:[A-Za-z0-9_-]{30,}",  # Telegram bot tokens
    r"[Bb]earer\s+[A-Za-z0-9._~+/-]{16,}=*",
]
MIN_SECRET_LEN = 6


class Redactor:
    """Masks the given secret values and anything shaped like a token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        parts = [re.escape(v) for v in values] + TOKEN_PATTERNS
        self._text = re.compile("|".join(parts))
        self._bytes = re.compile("|".join(parts).encode())

    def text(self, value: str) -> str:
        """Return the text with secrets masked."""
        return self._text.sub(lambda m: "*" * len(m.group(0)), value)

    def bytes(self, value: bytes) -> bytes:
        """Return the bytes with secrets masked (same length)."""
        return self._bytes.sub(lambda m: b"*" * len(m.group(0)), value)

    def value(self, value: Any) -> Any:
        """Return a JSON-like value with every string masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


NO_SECRETS = Redactor()
