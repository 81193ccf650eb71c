"""Money parsed from what people type: a positive Decimal with cents, shown as ``"12.50"``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

MAX_AMOUNT = Decimal("100000000000")  # a hundred billion: anything larger is a typo or an attack


def parse_amount(value: object) -> Decimal:
    """Parse ``12.5``, ``"$1,200"`` or ``12`` into a Decimal with two places; reject non-positive and absurd."""
    if isinstance(value, bool):
        raise ValueError("amount must be a number")
    text = str(value).strip().replace(",", "").lstrip("$€£")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {str(value)[:40]!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("amount must be positive")
    if amount > MAX_AMOUNT:
        raise ValueError("amount out of range")
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount <= 0:
        raise ValueError("amount must be at least 0.01")
    return amount


def cents(amount: Decimal) -> int:
    """Return an amount in integer cents."""
    return int(amount * 100)


def fmt(cents_: int) -> str:
    """Format cents as ``$1,234.50`` (negative with a minus)."""
    sign = "-" if cents_ < 0 else ""
    return f"{sign}${abs(cents_) / 100:,.2f}"


Money = Annotated[
    Decimal, BeforeValidator(parse_amount), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)
]
