"""Intents from examples: the nearest command to a line by sentence similarity, with its slots filled.

The examples of every intent (``agents.phrasings``) are embedded once per embedder and cached, in
memory and on disk, keyed by a hash of the embedder and the examples. A line is embedded and scored
against every example; an intent scores its best example. Then ``fill`` reads the intent's slots from
the line with the shared extractors (``graph.slots``) and writes the command the grammar understands
(``expense 40.00 printer ink``), or the command with a ``<placeholder>`` for each slot it could not read.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.catalog import phrasings as catalog_phrasings
from agents.phrasings import FREE_SLOTS, Phrasing
from graph import slots as sx
from memory.knowledge.embedders import Embedder

log = logging.getLogger(__name__)

WORD_BONUS = 0.15
FIRST_BONUS = 0.1
ALONE_BONUS = 0.4
_POLITE = frozenset("please pls hey hi ok okay so can could would you kindly just i".split())
_MEMORY: dict[str, np.ndarray] = {}
_MEMORY_LOCK = threading.Lock()


@dataclass(frozen=True)
class Scored:
    """An intent and how close the line came to its nearest example (cosine similarity)."""

    phrasing: Phrasing
    score: float


class IntentIndex:
    """The intents' example embeddings, and the nearest intents to a line."""

    def __init__(
        self, embedder: Embedder, phrasings: Sequence[Phrasing] | None = None, cache_dir: Path | None = None
    ) -> None:
        self.embedder = embedder
        self.phrasings = tuple(phrasings) if phrasings is not None else catalog_phrasings()
        self.cache_dir = cache_dir
        self._owner = np.array([i for i, p in enumerate(self.phrasings) for _ in p.examples], dtype=np.int32)
        texts = [x for p in self.phrasings for x in p.examples]
        body = json.dumps([embedder.name, embedder.version, texts], ensure_ascii=False)
        self.key = hashlib.sha256(body.encode()).hexdigest()[:24]
        self._texts = texts
        self._words: dict[str, set[int]] = {}
        for i, p in enumerate(self.phrasings):
            for w in p.words:
                self._words.setdefault(w, set()).add(i)

    def _worded(self, text: str) -> dict[int, float]:
        """Return the bonus of each intent whose own words the line has (one typo allowed in a long word).

        A word is worth ``WORD_BONUS``; as the line's first word (after "please", "can you", ...) it is
        worth ``FIRST_BONUS`` more, and a line of that one word alone is a command: ``ALONE_BONUS``.
        """
        tokens = re.findall(r"[a-z][a-z'-]+", text.lower())
        out: dict[int, float] = {}
        first = True
        for token in tokens:
            if first and token in _POLITE:
                continue
            hit = self._words.get(token)
            if hit is None and len(token) >= 5:
                close = difflib.get_close_matches(token, self._words, n=1, cutoff=0.8)
                hit = self._words[close[0]] if close else None
            for i in hit or ():
                bonus = WORD_BONUS + (FIRST_BONUS if first else 0.0)
                if len(tokens) == 1 and len(hit or ()) == 1:
                    bonus = ALONE_BONUS
                out[i] = max(out.get(i, 0.0), bonus)
            first = False
        return out

    def matrix(self) -> np.ndarray:
        """Return the example embeddings, computing them only when neither cache has them."""
        with _MEMORY_LOCK:
            cached = _MEMORY.get(self.key)
            if cached is not None:
                return cached
            path = self.cache_dir / f"intents-{self.key}.npy" if self.cache_dir else None
            vectors = None
            if path is not None and path.exists():
                try:
                    vectors = np.load(path, allow_pickle=False)
                except (OSError, ValueError):
                    log.warning("intent cache %s unreadable; recomputing", path)
            if vectors is None or vectors.shape[0] != len(self._texts):
                vectors = self.embedder.embed(self._texts)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp.npy")
                    np.save(tmp, vectors, allow_pickle=False)
                    tmp.replace(path)
            _MEMORY[self.key] = vectors
            return vectors

    def nearest(self, text: str) -> list[Scored]:
        """Return every intent scored against the line, best first.

        An intent scores its nearest example, plus ``WORD_BONUS`` when the line has one of its own
        words (or a word one typo away from one: ``expence``, ``balanse``).
        """
        query = self.embedder.embed([_masked(text)])[0]
        sims = self.matrix() @ query
        best = np.full(len(self.phrasings), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owner, sims)
        for i, bonus in self._worded(text).items():
            best[i] += bonus
        order = np.argsort(-best)
        return [Scored(self.phrasings[i], float(best[i])) for i in order]


def _masked(text: str) -> str:
    """Return the line with long identifiers shortened, so they do not pull it towards other intents."""
    text = re.sub(r"https?://\S+", "https://example.org", text)
    return re.sub(r"\bINV-\d{4}-\d{4,}\b", "INV-2026-0001", text, flags=re.I)


@dataclass(frozen=True)
class Filled:
    """An intent's command filled from a line.

    Attributes:
        phrasing: The intent.
        line: The command, with ``<slot>`` where a required slot could not be read.
        complete: Whether every required slot was read (the line can be run through the grammar).
        values: The slots read.
        problem: Why an amount that was written cannot be used ("" when none was).
    """

    phrasing: Phrasing
    line: str
    complete: bool
    values: dict[str, str]
    problem: str = ""

    @property
    def structured(self) -> bool:
        """Tell whether the line gave a value the command needs beyond words (an amount, a number, a date)."""
        return any(k not in FREE_SLOTS and k not in ("subject", "body") for k in self.values)


def fill(p: Phrasing, text: str, ctx: sx.SlotContext) -> Filled:
    """Read an intent's slots from a line and write its command."""
    rest = text.replace("\u2019", "'")
    values: dict[str, str] = {}
    problem = ""
    names = [name for name, _ in p.slots]
    for name in _ORDER:
        if name not in names:
            continue
        value: str | None = None
        if name == "number":
            value, rest = sx.invoice_number(rest)
            if value is None:
                value = _only_open_invoice(rest, ctx)
        elif name == "email":
            value, rest = sx.email(rest)
        elif name == "month":
            value, rest = sx.month(rest, ctx.now)
        elif name == "days":
            value, rest = sx.days(rest)
        elif name == "date":
            value, rest = sx.day(rest, ctx.now.date())
        elif name == "clock":
            value, rest = sx.clock(rest)
        elif name == "id":
            value, rest = sx.item_id(rest)
        elif name == "amount":
            found = sx.amount(rest)
            value, rest, problem = found.value, found.rest, found.problem
        elif name == "customer":
            value, rest = sx.customer(rest, ctx.customers())
            if value is None:
                value, rest = _named(rest, p.cues)
        if value:
            values[name] = value
    free = [n for n in names if n in FREE_SLOTS]
    if "subject" in names:  # an email: subject and body either side of a colon
        head, sep, body = rest.partition(":")
        subject = sx.free_text(
            head,
            p.cues | {"about", "saying", "that", "an", "email", "mail", "send", "to", "subject", "write"},
        )
        if sep and subject and body.strip():
            values["subject"], values["body"] = subject, body.strip()
    elif free:
        text_value = sx.free_text(rest, p.cues, articles=free[0] == "memo")
        if text_value:
            values[free[0]] = text_value
    complete = all(name in values for name, required in p.slots if required)
    return Filled(p, _render(p.command, values), complete, values, problem)


_ORDER = ("number", "email", "month", "days", "date", "clock", "id", "amount", "customer")
_SLOT = re.compile(r"\{(\w+)(\?)?\}")


def _render(command: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m[1] in values:
            return values[m[1]]
        return "" if m[2] else f"<{m[1]}>"

    line = _SLOT.sub(one, command)
    return re.sub(r"\s+", " ", line.replace(" :", ":")).strip()


def _only_open_invoice(text: str, ctx: sx.SlotContext) -> str | None:
    """Return the open invoice of the customer the line names, when there is exactly one."""
    name, _ = sx.customer(text, ctx.customers())
    if name is None:
        return None
    numbers = list(ctx.open_invoices(name))
    return numbers[0] if len(numbers) == 1 else None


def _named(text: str, cues: frozenset[str]) -> tuple[str | None, str]:
    """Take a name no customer has yet: the capitalised words after the command's own words."""
    words = text.split()
    i = 0
    while i < len(words) and sx._word(words[i]) in cues:
        i += 1
    j = i
    while j < len(words) and words[j][:1].isupper() and sx._word(words[j]) not in cues:
        j += 1
    if j == i:
        return None, text
    name = " ".join(w.strip(".,:;!?") for w in words[i:j]).removesuffix("'s")
    return name, " ".join(words[:i] + words[j:])
