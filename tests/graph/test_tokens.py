"""The offline token estimate stays at or above real BPE counts; the tiktoken path falls back offline."""

from __future__ import annotations

import json

import pytest

from agents.catalog import default_registry
from graph.chat_model import tool_specs
from graph.prompts import render_planner_system
from graph.tokens import CharEstimate, count_prompt, make_counter

# Counts measured with the real o200k_base and cl100k_base encodings (bpe-openai's bundled tables).
REFERENCE = [
    ("expense 12.50 coffee with Dana", 8, 8),
    ("How much did I spend on software this month? I think it was around $340.", 18, 18),
    ("Bitte erinnere mich morgen an die Rechnung für Müller GmbH", 12, 15),
    ("请帮我记录一笔支出：咖啡 25 元", 15, 20),
    (
        "email dana@example.com Invoice 2026-11: Hi Dana, attached is invoice #1234 for $1,250.00. Thanks!",
        30,
        31,
    ),
]


@pytest.mark.parametrize(("text", "o200k", "cl100k"), REFERENCE)
def test_estimate_is_not_below_real_counts(text, o200k, cl100k):
    assert CharEstimate().count(text) >= max(o200k, cl100k)


def test_estimate_of_our_own_prompt_and_tools_is_not_below_real_counts():
    # o200k counted 86 tokens for the system prompt and 525 for the tools as JSON (cl100k: 86, 522).
    counter = CharEstimate()
    assert counter.count(render_planner_system()) >= 86
    assert counter.count(json.dumps(tool_specs(default_registry()))) >= 525


def test_prompt_count_adds_messages_tools_and_overheads():
    counter = CharEstimate()
    bare = count_prompt(counter, [("human", "balance")])
    assert bare == 3 + 4 + counter.count("human") + counter.count("balance")
    with_tools = count_prompt(
        counter, [("human", "balance")], [{"type": "function", "function": {"name": "x"}}]
    )
    assert with_tools > bare


def test_tiktoken_without_its_encoding_falls_back_to_the_estimate(caplog):
    # tiktoken fetches encodings from the network at run time; here it cannot, so we estimate.
    counter = make_counter("no_such_encoding")
    assert counter.name == "chars"
    assert "estimating tokens from characters" in caplog.text
    assert make_counter(None).name == "chars"
