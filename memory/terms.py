"""Search terms: the content words of a text, for lexical search and workspace matching."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Words too common to say anything about what a query is after; FTS ranks them low anyway,
# but leaving them out keeps an OR query from matching every row.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his how i
    if in into is it its me my no not of on or our she so than that the their them then there these
    they this to too up us was we were what when where which who whom why will with would you your
    about any all also just more most some such only own same very s t don should now""".split()
)


def terms(text: str, *, limit: int = 16, min_len: int = 2) -> list[str]:
    """Return the distinct lowercase content words of a text, in order of first appearance.

    Args:
        text: Any text; punctuation and FTS operators are dropped.
        limit: At most this many terms (long queries are cut, not rejected).
        min_len: Shorter words are dropped.
    """
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) < min_len or word in STOPWORDS or word in out:
            continue
        out.append(word)
        if len(out) >= limit:
            break
    return out
