"""Model prices, per million tokens, and pricing a call from its usage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float = 0.0


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
}
UNKNOWN_MODEL = Price(1.00, 4.00, 0.25)  # priced on the safe side rather than free
FREE = Price(0.0, 0.0, 0.0)  # a model on the operator's own hardware


def price_of(model: str, table: Mapping[str, Price] = DEFAULT_PRICES) -> Price:
    """Return the price of a model, matching dated variants by prefix."""
    if model in table:
        return table[model]
    for name in sorted(table, key=len, reverse=True):
        if model.startswith(name):
            return table[name]
    return UNKNOWN_MODEL


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    table: Mapping[str, Price] = DEFAULT_PRICES,
) -> float:
    """Return what a call cost."""
    p = price_of(model, table)
    fresh = max(input_tokens - cached_tokens, 0)
    return (fresh * p.input + cached_tokens * p.cached_input + output_tokens * p.output) / 1_000_000


def price_table(overrides: Mapping[str, Any] | None = None) -> dict[str, Price]:
    """Return the default table with overrides merged in.

    Args:
        overrides: Model name to ``{"input": .., "output": .., "cached_input": ..}`` (USD per million
            tokens; ``cached_input`` defaults to ``input``) or to ``[input, output, cached_input?]``.

    Raises:
        ValueError: When an entry is not a price.
    """
    table = dict(DEFAULT_PRICES)
    for model, spec in (overrides or {}).items():
        try:
            if isinstance(spec, Mapping):
                p = Price(
                    float(spec["input"]),
                    float(spec["output"]),
                    float(spec.get("cached_input", spec["input"])),
                )
            else:
                values = [float(v) for v in spec]
                p = Price(values[0], values[1], values[2] if len(values) > 2 else values[0])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"bad price for model {model!r}: {spec!r}") from exc
        if min(p.input, p.output, p.cached_input) < 0:
            raise ValueError(f"negative price for model {model!r}")
        table[str(model)] = p
    return table
