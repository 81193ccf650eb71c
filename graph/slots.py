"""Slots from plain language: one shared extractor per kind of value, each taking its span out of the line.

Every extractor returns the value it read (or None) and the line without that span, so what is left at
the end is the free text (a memo, a task, a query). Values come back as the grammar writes them
(``40.00``, ``INV-2026-0003``, ``2026-11``, ``tomorrow``, ``15:00``), because a filled command is run
through the grammar like any typed line. Money is read only by the one amount parser
(``agents.money``): a line whose amount cannot be read exactly has no amount, never another one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from agents.dates import DateError, find_day
from agents.money import CODES, AmountError, split_amount

Found = tuple[str | None, str]

_INVOICE = re.compile(r"\b(INV-\d{4}-\d{4,})\b", re.I)
_EMAIL = re.compile(r"<?\b([\w.+-]+@[\w-]+(?:\.[\w-]+)+)\b>?")
_MONTHS = "january february march april may june july august september october november december".split()
_MONTH_NAME = re.compile(
    r"\b(?P<name>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?(?:\s+(?P<year>\d{4}))?\b",
    re.I,
)


@dataclass(frozen=True)
class SlotContext:
    """What extractors may consult: the time now in the operator's zone, and the workspace.

    Attributes:
        now: The current time in ``COO_TIMEZONE`` (dates and months are read relative to it).
        customers: Returns the workspace's customer names.
        open_invoices: Returns the numbers of a customer's open invoices.
    """

    now: datetime
    customers: Callable[[], Sequence[str]] = field(default=lambda: ())
    open_invoices: Callable[[str], Sequence[str]] = field(default=lambda _name: ())


def _cut(text: str, m: re.Match[str]) -> str:
    return f"{text[: m.start()]} {text[m.end() :]}"


def invoice_number(text: str) -> Found:
    """Take an invoice number (``INV-2026-0003``) out of the line."""
    m = _INVOICE.search(text)
    return (m[1].upper(), _cut(text, m)) if m else (None, text)


def email(text: str) -> Found:
    """Take an email address out of the line."""
    m = _EMAIL.search(text)
    return (m[1], _cut(text, m)) if m else (None, text)


_NOT_MONEY = re.compile(
    r"^(?:\d{4}-\d{2}(?:-\d{2})?|\d+[:/].*|\d+(?:st|nd|rd|th|am|pm|h\d*m?|m|mins?|minutes?|x|%|s)"
    r"|#\d+)$",
    re.I,
)


def _means_money(token: str) -> bool:
    """Tell whether a word is meant as an amount (``40``, ``$40``, ``1.2k``, ``-5``), not a date or a time."""
    bare = token.rstrip(",:;.?!")
    if not bare or _NOT_MONEY.match(bare):
        return False
    return bool(re.match(r"(?:US|C|A)?[$€£¥₹]|[-(]?[$€£¥₹]?\.?\d", bare))


_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    "|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand"
    "|a|an|and"
)
_IN_WORDS = re.compile(
    rf"\b(?:(?:{_NUMBER_WORDS})[\s-]+)*(?:{_NUMBER_WORDS})[\s-]+(?:dollars?|bucks|euros?|pounds?|quid)\b",
    re.I,
)


@dataclass(frozen=True)
class Amount:
    """What a line says about money: the one exact amount, or why there is none."""

    value: str | None
    rest: str
    problem: str = ""  # a sentence saying why a written amount cannot be used ("" when none was written)


def amount(text: str) -> Amount:
    """Take the one amount out of the line, as ``40.00``.

    Every word meant as an amount is read by the one parser. The line has an amount only when exactly
    one reads (or exactly one is marked with a currency, ``$30`` beside ``2 boxes``) and none fails:
    a line with an amount that cannot be read exactly has none, never another one.
    """
    text = text.strip()
    words = _IN_WORDS.search(text)
    if words:  # "forty dollars": said, but not in digits; never turned into a number here
        return Amount(None, _cut(text, words), "Type the amount in digits, like $40.")
    spans: list[tuple[int, int, bool, Decimal]] = []
    problems: list[str] = []
    for m in re.finditer(r"\S+", text):
        if spans and m.start() < spans[-1][1]:
            continue  # already part of the amount before ("USD 40")
        word = m[0]
        code_first = word.upper() in CODES and re.match(r"\s+[-(]?[\d.]", text[m.end() :])
        if not (code_first or _means_money(word)):
            continue
        suffix = text[m.start() :].rstrip("?!. ")
        try:
            value, rest = split_amount(suffix)
        except AmountError as exc:
            problems.append(str(exc))
            continue
        end = m.start() + len(suffix) - len(rest)
        has_mark = bool(re.search(r"[$€£¥₹]|[A-Za-z]{2,}", text[m.start() : end].replace("k", "")))
        spans.append((m.start(), end, has_mark, value))
    if problems:
        return Amount(None, text, problems[0])
    marked = [s for s in spans if s[2]]
    chosen = marked if len(marked) == 1 else spans
    if len(chosen) != 1:
        why = "" if not spans else "The line has more than one amount; say which one."
        return Amount(None, text, why)
    start, end, _, value = chosen[0]
    return Amount(f"{value:.2f}", f"{text[:start]} {text[end:]}")


def month(text: str, now: datetime) -> Found:
    """Take a month (``2026-11``, ``last month``, ``this month``, ``november [2025]``) out of the line."""
    m = re.search(r"\b(\d{4})-(0[1-9]|1[0-2])\b", text)
    if m:
        return f"{m[1]}-{m[2]}", _cut(text, m)
    m = re.search(r"\b(last|previous|past|this|current)\s+month'?s?\b", text, re.I)
    if m:
        first = now.date().replace(day=1)
        if m[1].lower() in ("last", "previous", "past"):
            first = (first - timedelta(days=1)).replace(day=1)
        return f"{first:%Y-%m}", _cut(text, m)
    m = _MONTH_NAME.search(text)
    if m and not (m["name"].lower() == "may" and not m["year"] and not _near_month_word(text, m)):
        n = next(i for i, full in enumerate(_MONTHS, 1) if full.startswith(m["name"].lower()[:3]))
        year = int(m["year"]) if m["year"] else now.year - (1 if n > now.month else 0)
        return f"{year}-{n:02d}", _cut(text, m)
    return None, text


def _near_month_word(text: str, m: re.Match[str]) -> bool:
    """Tell whether ``may`` is a month here ("for May", "in may"), not the verb."""
    before = text[: m.start()].split()[-1:]
    return bool(before) and before[0].lower() in ("in", "for", "of", "during")


def days(text: str) -> Found:
    """Take a span ahead (``next 3 days``, ``this week``, ``tomorrow``) out of the line, in days."""
    m = re.search(r"\b(?:next|coming)?\s*(\d{1,2})\s*(?:d|days?)\b", text, re.I)
    if m:
        return m[1], _cut(text, m)
    for pattern, n in ((r"\b(?:this|next|the)?\s*week\b", "7"), (r"\btoday\b", "1"), (r"\btomorrow\b", "2")):
        m = re.search(pattern, text, re.I)
        if m:
            return n, _cut(text, m)
    return None, text


def day(text: str, today: date) -> Found:
    """Take a day (``2026-12-10``, ``today``, ``tomorrow``, ``the day after tomorrow``, ``friday``) out of the line.

    Days are read by ``agents.dates`` (one reading for tasks and events): a weekday names its next
    occurrence, today included; ``next friday`` is a week after that.
    """
    try:
        found, m = find_day(text, today)
    except DateError:
        return None, text
    if found is None or m is None:
        return None, text
    word = m["day"].lower()
    value = word if word in ("today", "tomorrow") else found.isoformat()
    return value, _cut(text, m)


def clock(text: str) -> Found:
    """Take a time of day (``15:00``, ``3pm``, ``9:30 am``, ``noon``, ``at 9``) out of the line, as ``HH:MM``."""
    m = re.search(r"\b(?:at\s+)?(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b", text, re.I)
    if m:
        hour = int(m[1]) % 12 + (12 if m[3].lower() == "pm" else 0)
        return f"{hour:02d}:{m[2] or '00'}", _cut(text, m)
    m = re.search(r"\b(?:at\s+)?([01]?\d|2[0-3])[:.]([0-5]\d)\b", text)
    if m:
        return f"{int(m[1]):02d}:{m[2]}", _cut(text, m)
    m = re.search(r"\b(?:at\s+)?(noon|midday)\b", text, re.I)
    if m:
        return "12:00", _cut(text, m)
    m = re.search(r"\bat\s+([01]?\d|2[0-3])\b(?![.:,]\d)", text, re.I)
    if m:
        hour = int(m[1])
        return f"{hour + 12 if hour < 8 else hour:02d}:00", _cut(text, m)  # "at 3": the afternoon
    return None, text


def item_id(text: str) -> Found:
    """Take an item's number (``#12``, ``12``) out of the line."""
    m = re.search(r"(?:#|\b)(\d{1,9})\b", text)
    return (m[1], _cut(text, m)) if m else (None, text)


def customer(text: str, names: Sequence[str]) -> Found:
    """Take a customer named in the workspace out of the line (the longest name that appears)."""
    for name in sorted(names, key=len, reverse=True):
        m = re.search(rf"\b{re.escape(name)}(?:'s)?\b", text, re.I)
        if m:
            return name, _cut(text, m)
    return None, text


_LEAD = frozenset(
    "please pls hey hi hello ok okay so can could would will you kindly just quickly hm um coo".split()
)
_TRAIL = frozenset("please pls thanks thank you thx for on of to from with at the a an and".split())
_ARTICLES = frozenset("the a an my our some".split())


def _word(token: str) -> str:
    return token.strip(".,!?:;\"'()").lower()


def _cue(word: str, cues: frozenset[str]) -> bool:
    """Tell whether a word is one of the command's words, or one typo away from a long one (``expence``)."""
    if word in cues or word in _LEAD or not word:
        return True
    return len(word) >= 4 and bool(difflib.get_close_matches(word, [c for c in cues if len(c) >= 5], 1, 0.8))


def free_text(text: str, cues: frozenset[str], *, articles: bool = True) -> str:
    """Return what is left of a line once the words that name the command are dropped from its ends.

    Args:
        text: The line with its other slots taken out.
        cues: The intent's own command words (``spent``, ``paid``, ``remind``, ...).
        articles: Whether to drop a leading article too (a memo, not a task).
    """
    text = re.sub(r"\b(?:to|on|in|into)\s+(?:my|the)\s+(?:calendar|agenda|schedule)\b", " ", text, flags=re.I)
    tokens = text.replace("\u2019", "'").split()
    while tokens and _cue(_word(tokens[0]), cues):
        tokens.pop(0)
    while tokens and (_word(tokens[-1]) in _TRAIL or _word(tokens[-1]) in cues or not _word(tokens[-1])):
        tokens.pop()
    if articles:
        while tokens and _word(tokens[0]) in _ARTICLES:
            tokens.pop(0)
    out = " ".join(tokens).strip(" .,!?;:-")
    return out
