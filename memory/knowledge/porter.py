"""SQLite FTS5's ``porter unicode61`` tokenizer, in Python: the tokens FTS5 indexes a text under.

ASCII text is tokenized here (runs of letters and digits, lowercased, then Martin Porter's original
stemmer with the changes of his reference C version, as SQLite's FTS5 applies it: only to tokens of 3 to
64 bytes). Any text with a non-ASCII character is handed to SQLite's own tokenizer (an in-memory FTS5
table of the same kind), so diacritics, case folding and Unicode categories are FTS5's by construction.
``tests/memory/test_word_index.py`` checks the ASCII side against FTS5 on many words.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from functools import lru_cache

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
MAX_STEMMED = 64  # FTS5 passes longer tokens through unstemmed (FTS5_PORTER_MAX_TOKEN)


def _consonants(w: str) -> list[bool]:
    """Return, for each letter, whether it is a consonant (``y`` is a vowel after a consonant)."""
    out: list[bool] = []
    prev_cons = False
    for c in w:
        vowel = c in "aeiou" or (c == "y" and prev_cons)
        prev_cons = not vowel
        out.append(prev_cons)
    return out


def _m(stem: str) -> int:
    """Return Porter's measure: how many vowel-consonant sequences the stem has."""
    m, prev = 0, True
    for cons in _consonants(stem):
        if cons and not prev:
            m += 1
        prev = cons
    return m


def _has_vowel(stem: str) -> bool:
    # FTS5's test: a, e, i, o, u anywhere, or y anywhere but first.
    return any(c in "aeiou" or (c == "y" and i > 0) for i, c in enumerate(stem))


def _cvc(stem: str) -> bool:
    """Porter's ``*o``: the stem ends consonant-vowel-consonant, the last not w, x or y."""
    if not stem or stem[-1] in "wxy" or len(stem) < 3:
        return False
    return _consonants(stem)[-3:] == [True, False, True]


_STEP2 = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "g": (("logi", "log"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
}
_STEP3 = {
    "a": (("ical", "ic"),),
    "s": (("ness", ""),),
    "t": (("icate", "ic"), ("iciti", "ic")),
    "u": (("ful", ""),),
    "v": (("ative", ""),),
    "z": (("alize", "al"),),
}
_STEP4 = {
    "a": ("al",),
    "c": ("ance", "ence"),
    "e": ("er",),
    "i": ("ic",),
    "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"),
    "o": ("ion", "ou"),
    "s": ("ism",),
    "t": ("ate", "iti"),
    "u": ("ous",),
    "v": ("ive",),
    "z": ("ize",),
}


def _replace(w: str, rules: dict[str, tuple[tuple[str, str], ...]], min_m: int) -> str:
    """Apply the first rule whose suffix ends the word (by its last-but-one letter), if the stem's m > min_m."""
    if len(w) < 2:
        return w
    for suffix, repl in rules.get(w[-2], ()):
        if w.endswith(suffix) and len(w) > len(suffix):
            stem = w[: -len(suffix)]
            return stem + repl if _m(stem) > min_m else w
    return w


def _step1b(w: str) -> str:
    if w.endswith("eed") and len(w) > 3:  # FTS5: "eed" itself falls to the "ed" rule
        if _m(w[:-3]) > 0:
            return w[:-1]
        return w
    for suffix in ("ed", "ing"):
        if w.endswith(suffix) and len(w) > len(suffix):
            stem = w[: -len(suffix)]
            if not _has_vowel(stem):
                return w
            for end, repl in (("at", "ate"), ("bl", "ble"), ("iz", "ize")):
                if stem.endswith(end) and len(stem) > 2:
                    return stem[:-2] + repl
            last = stem[-1]
            if len(stem) > 1 and last not in "aeioulsz" and last == stem[-2]:
                return stem[:-1]
            if _m(stem) == 1 and _cvc(stem):
                return stem + "e"
            return stem
    return w


def _step4(w: str) -> str:
    if len(w) < 2:
        return w
    for suffix in _STEP4.get(w[-2], ()):
        if w.endswith(suffix) and len(w) > len(suffix):
            stem = w[: -len(suffix)]
            if _m(stem) > 1 and (suffix != "ion" or stem[-1] in "st"):
                return stem
            return w
    return w


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """Return FTS5's porter stem of one lowercase ASCII token."""
    w = token
    if len(w) < 3 or len(w) > MAX_STEMMED:
        return w
    # Step 1a
    if w[-1] == "s":
        if w[-2] == "e":
            if (len(w) > 4 and w[-4:-2] == "ss") or (len(w) > 3 and w[-3] == "i"):
                w = w[:-2]
            else:
                w = w[:-1]
        elif w[-2] != "s":
            w = w[:-1]
    w = _step1b(w)
    # Step 1c
    if w and w[-1] == "y" and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    w = _replace(w, _STEP2, 0)
    w = _replace(w, _STEP3, 0)
    w = _step4(w)
    # Step 5a
    if w and w[-1] == "e":
        m = _m(w[:-1])
        if m > 1 or (m == 1 and not _cvc(w[:-1])):
            w = w[:-1]
    # Step 5b
    if len(w) > 1 and w[-1] == "l" and w[-2] == "l" and _m(w[:-1]) > 1:
        w = w[:-1]
    return w


class _SqliteTokenizer:
    """SQLite's own ``porter unicode61``, through a scratch in-memory FTS5 table and its vocabulary."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE scratch USING fts5(text, tokenize='porter unicode61')")
        self.db.execute("CREATE VIRTUAL TABLE scratch_v USING fts5vocab(scratch, instance)")

    def tokens(self, texts: list[str]) -> list[list[str]]:
        with self.lock:
            self.db.executemany("INSERT INTO scratch(rowid, text) VALUES (?, ?)", enumerate(texts))
            found = self.db.execute("SELECT doc, offset, term FROM scratch_v").fetchall()
            self.db.execute("DELETE FROM scratch")
        out: list[list[tuple[int, str]]] = [[] for _ in texts]
        for doc, offset, term in found:
            out[doc].append((offset, term))
        return [[t for _, t in sorted(pairs)] for pairs in out]


_sqlite: _SqliteTokenizer | None = None
_sqlite_lock = threading.Lock()


def _sqlite_tokenizer() -> _SqliteTokenizer:
    global _sqlite
    with _sqlite_lock:
        if _sqlite is None:
            _sqlite = _SqliteTokenizer()
        return _sqlite


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """Return each text's tokens as FTS5 ``porter unicode61`` indexes them, in order."""
    out: list[list[str] | None] = []
    foreign: list[int] = []
    for i, t in enumerate(texts):
        if t.isascii():
            out.append([stem(w) for w in _ASCII_TOKEN.findall(t.lower())])
        else:
            out.append(None)
            foreign.append(i)
    if foreign:
        for i, toks in zip(foreign, _sqlite_tokenizer().tokens([texts[i] for i in foreign]), strict=True):
            out[i] = toks
    return [o or [] for o in out]


def tokenize(text: str) -> list[str]:
    """Return one text's tokens as FTS5 ``porter unicode61`` indexes them, in order."""
    return tokenize_many([text])[0]
