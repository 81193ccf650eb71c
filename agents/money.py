"""Money parsed from what people type: one parser for every operation that takes an amount.

``parse_amount`` accepts ``40``, ``$40``, ``40.00``, ``1,200``, ``1.2k``, ``5k`` (k: thousands) and the
books' currency by symbol or code (``40 USD``). It refuses, with a sentence saying what to type, anything
it could misread: scientific notation, zero or negative amounts, more than two decimals, malformed
grouping (``1,20``), another currency than the books', NaN/infinity, and amounts the ledger cannot store.
An amount is never rounded: what the operator typed is what the card shows and what the journal posts.

The books' currency is set once at start (``COO_CURRENCY``, default USD) by :func:`set_currency`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from agents.errors import Refusal

CENT = Decimal("0.01")
MAX_CENTS = 2**31 - 1  # the ledger's amount columns are 32-bit integers of cents
MAX_AMOUNT = Decimal(MAX_CENTS) / 100

SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "$", "AUD": "$"}
_SYMBOL_MEANS: dict[str, frozenset[str]] = {
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"}),
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
    "¥": frozenset({"JPY", "CNY"}),
    "₹": frozenset({"INR"}),
}
CODES = frozenset(
    "USD EUR GBP JPY CNY INR CAD AUD NZD CHF SEK NOK DKK PLN CZK HUF MXN BRL SGD HKD ZAR ILS".split()
)
_WORDS: dict[str, str] = {"dollars": "USD", "dollar": "USD", "bucks": "USD", "euros": "EUR", "euro": "EUR"}

_NUMBER = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?(?P<k>[kK])?", re.ASCII)
_SYMBOL = "".join(_SYMBOL_MEANS)
_PRE = re.compile(rf"^(?P<mark>(?:US|C|A)?[{_SYMBOL}]|[A-Za-z]{{3}}(?=\s?[-\d.]))\s?")
_POST = re.compile(rf"\s?(?P<mark>[{_SYMBOL}]|[A-Za-z]{{2,8}})$")
MAX_TEXT = 40  # longer than any amount anyone types
AMOUNT_START = rf"(?:(?i:{'|'.join(sorted(CODES))})\s+(?=[-\d.]))?(?:US|C|A)?[-(]?[$€£¥₹]?[-(]?[\d.]"
"""A regex fragment: where a token that means to be an amount starts (for grammars that then split it)."""

_books = ["USD"]


class AmountError(Refusal):
    """What was typed is not an amount the books can record; the message says what to type instead."""


def set_currency(code: str) -> None:
    """Set the books' currency (an ISO code such as ``USD``), once at start.

    Raises:
        AmountError: The code is not one the parser knows.
    """
    code = code.strip().upper()
    if code not in CODES:
        raise AmountError(f"COO_CURRENCY must be one of {', '.join(sorted(CODES))}, not {code!r}.")
    _books[0] = code


def currency() -> str:
    """Return the books' currency code."""
    return _books[0]


def _example() -> str:
    return f"{SYMBOLS.get(currency(), '')}40, 1,200.50 or 5k"


def _check_currency(mark: str, shown: str) -> None:
    books = currency()
    upper = mark.upper()
    if upper in CODES:
        means = frozenset({upper})
    elif mark[-1] in _SYMBOL_MEANS:
        means = _SYMBOL_MEANS[mark[-1]]
        if mark[:-1]:  # US$, C$, A$: the prefix narrows it
            means = {"US": frozenset({"USD"}), "C": frozenset({"CAD"}), "A": frozenset({"AUD"})}.get(
                mark[:-1].upper(), frozenset()
            )
    else:
        raise AmountError(f"{shown!r} is not an amount; type one like {_example()}.")
    if books not in means:
        raise AmountError(
            f"The books are in {books}, so {shown!r} cannot be recorded as it is: convert it to {books}"
            f" and type that amount (e.g. {SYMBOLS.get(books, books + ' ')}40)."
        )


def parse_amount(text: object) -> Decimal:
    """Parse what was typed into an exact, positive Decimal with two places.

    Args:
        text: ``"40"``, ``"$1,200.50"``, ``"5k"``, ``"40 USD"``; a Decimal or an int is taken as it is.

    Raises:
        AmountError: It is not an amount in the books' currency with at most two decimals, or it is
            zero, negative or larger than the ledger stores. The message says what to type.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | Decimal | float):
        raise AmountError(f"An amount must be a number, like {_example()}.")
    raw = repr(text) if isinstance(text, float) else str(text)  # a float's shortest text: 12.345 stays
    raw = raw.strip()
    shown = raw[:MAX_TEXT]
    not_amount = AmountError(f"{shown!r} is not an amount; type one like {_example()}.")
    if not raw or len(raw) > MAX_TEXT:
        raise not_amount
    num = raw
    for pattern in (_PRE, _POST):
        m = pattern.search(num)
        if m:
            _check_currency(_WORDS.get(m["mark"].lower(), m["mark"]), shown)
            num = num[: m.start()] + num[m.end() :]
    if "-" in num or num.startswith("("):
        raise AmountError(f"{shown!r} is negative; type the amount without a sign, like {_example()}.")
    parts = _NUMBER.fullmatch(num)
    if parts is None or not (parts["int"] or parts["frac"]):
        if re.fullmatch(r"[\d.,]*\d[eE][+]?\d+", num):
            raise AmountError(
                f"{shown!r} is scientific notation; type the amount in digits, like {_example()}."
            )
        if re.fullmatch(r"[\d.,]+[kK]?", num) and "," in num:
            raise AmountError(
                f"{shown!r} has commas in the wrong places; group thousands by three (1,200) or leave them"
                " out (1200), with a dot before the cents."
            )
        raise not_amount
    amount = Decimal(f"{(parts['int'] or '0').replace(',', '')}.{parts['frac'] or '0'}")
    if parts["k"]:
        amount *= 1000
    if amount <= 0:
        raise AmountError(f"{shown!r} is zero; type an amount of at least 0.01.")
    if amount > MAX_AMOUNT:
        raise AmountError(f"{shown!r} is more than the books can record in one entry ({fmt(MAX_CENTS)}).")
    if amount != amount.quantize(CENT):
        if amount < CENT:
            raise AmountError(f"{shown!r} is less than a cent; type an amount of at least 0.01.")
        raise AmountError(
            f"{shown!r} has more than two decimals; type it in whole cents"
            f" (e.g. {amount.quantize(CENT, rounding=ROUND_HALF_UP)})."
        )
    return amount.quantize(CENT)


def split_amount(line: str) -> tuple[Decimal, str]:
    """Take the amount off the front of a line: ``"5k laptop"`` → ``(Decimal("5000.00"), "laptop")``.

    A currency code or word right after the number belongs to the amount (``40 EUR train`` is
    refused, never read as $40 for "EUR train").

    Raises:
        AmountError: The line does not start with an amount the books can record.
    """
    m = re.match(r"\s*(\S+)(?:\s+(\S+))?", line)
    if m is None:
        raise AmountError(f"Type an amount first, like {_example()}.")
    if m[2] and (_is_mark(m[1]) or _is_mark(m[2])):  # "USD 40 lunch", "40 EUR train": one amount
        token, rest = f"{m[1]} {m[2]}", line[m.end() :]
    else:
        token, rest = m[1], line[m.end(1) :]
    return parse_amount(token.rstrip(",:;")), rest.strip()


def _is_mark(word: str) -> bool:
    return word.upper() in CODES or word.lower() in _WORDS


def cents(amount: Decimal) -> int:
    """Return an amount in integer cents (exact: a parsed amount has two places)."""
    value = amount * 100
    if value != value.to_integral_value():
        raise AmountError(f"{amount} has more than two decimals.")
    return int(value)


def fmt(cents_: int) -> str:
    """Format cents in the books' currency: ``$1,234.50`` (negative with a minus)."""
    sign = "-" if cents_ < 0 else ""
    code = currency()
    symbol = SYMBOLS.get(code)
    body = f"{abs(cents_) // 100:,}.{abs(cents_) % 100:02d}"
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{code} {body}"


def _validate(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise PydanticCustomError("amount", str(exc)) from None


Money = Annotated[Decimal, BeforeValidator(_validate), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)]
"""A Decimal amount in pydantic schemas, parsed by :func:`parse_amount` and dumped as ``"12.50"``."""
