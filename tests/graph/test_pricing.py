"""The price table: defaults, dated variants, overrides from COO_PRICES_JSON."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from graph.pricing import DEFAULT_PRICES, Price, cost_usd, price_of, price_table


def test_dated_variants_and_unknown_models():
    assert price_of("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_of("llama3.1:8b").input > 0  # unknown models are priced on the safe side, never free


def test_cached_tokens_are_priced_apart():
    assert cost_usd("gpt-4o", 1_000_000, 0, cached_tokens=400_000) == pytest.approx(0.6 * 2.50 + 0.4 * 1.25)


def test_overrides_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "COO_PRICES_JSON", '{"llama3.1:8b": {"input": 0, "output": 0}, "gpt-4o": [5, 15, 2.5]}'
    )
    table = price_table(Settings(_env_file=None).coo_prices_json)  # type: ignore[call-arg]
    assert table["llama3.1:8b"] == Price(0, 0, 0)
    assert table["gpt-4o"] == Price(5, 15, 2.5)
    assert table["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]
    with pytest.raises(ValueError, match="bad price"):
        price_table({"m": {"input": 1}})
    with pytest.raises(ValueError, match="negative"):
        price_table({"m": [-1, 1]})
