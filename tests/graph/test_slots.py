"""The shared slot extractors, and the intents' example embeddings computed once and cached."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from graph import intents, slots
from graph.intents import IntentIndex
from memory.knowledge.embedders import HashingEmbedder

NOW = datetime(2026, 12, 4, 10, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("I spent $40 on printer ink", "40.00"),
        ("log 40 dollars for ink", "40.00"),
        ("expense ink 40", "40.00"),
        ("paid 1,200 for a laptop", "1200.00"),
        ("5k for equipment", "5000.00"),
        ("2 boxes of ink for $30", "30.00"),  # the one marked as money
        ("spent 40 USD on a taxi", "40.00"),
        ("meeting on 2026-12-03 at 10:00 cost 40", "40.00"),  # dates and times are not amounts
        ("INV-2026-0001 came to 800", "800.00"),
    ],
)
def test_the_one_amount_in_a_line_is_read_exactly(line, value):
    assert slots.amount(line).value == value


@pytest.mark.parametrize(
    "line",
    [
        "spent forty dollars on ink",  # words: never turned into a number here
        "spent 40,50 on lunch",  # a decimal comma: 40.50 or 4,050?
        "spent €40 on a train",  # another currency than the books'
        "spent 12.345 on fuel",  # more than cents
        "log 2 coffees 7.50",  # two amounts, neither marked
        "spent -20 on snacks",
        "bought printer ink",
    ],
)
def test_an_amount_that_cannot_be_read_exactly_is_none_never_another(line):
    found = slots.amount(line)
    assert found.value is None
    assert bool(found.problem) == (line != "bought printer ink")  # says why, when an amount was written


def test_months_days_and_times_are_read_relative_to_now():
    assert slots.month("summary last month", NOW)[0] == "2026-11"
    assert slots.month("how did I do this month", NOW)[0] == "2026-12"
    assert slots.month("profit for october", NOW)[0] == "2026-10"
    assert slots.month("what may I spend", NOW)[0] is None  # the verb, not the month
    assert slots.day("lunch monday", NOW.date())[0] == "2026-12-07"
    assert slots.day("call friday", NOW.date())[0] == "2026-12-04"  # today is Friday: today, as for tasks
    assert slots.day("call next friday", NOW.date())[0] == "2026-12-11"
    day, rest = slots.day("lunch the day after tomorrow", NOW.date())
    assert (day, rest.strip()) == ("2026-12-06", "lunch")
    assert slots.day("review in 3 days", NOW.date())[0] == "2026-12-07"
    assert slots.clock("at 3pm")[0] == "15:00"
    assert slots.clock("at noon")[0] == "12:00"
    assert slots.clock("9:30 am")[0] == "09:30"
    assert slots.days("the next 5 days")[0] == "5"


def test_free_text_drops_the_commands_words_from_its_ends():
    cues = frozenset({"i", "spent", "on", "for", "cost", "me", "the"})
    assert slots.free_text("I spent  on printer ink", cues) == "printer ink"
    assert slots.free_text("the train ticket cost me  ", cues) == "train ticket"
    assert slots.free_text("please expence for paper", cues | {"expense"}) == "paper"  # a typo of a cue


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embeds."""

    def __init__(self) -> None:
        super().__init__(dim=64, name="counting", version="1")
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


def test_example_embeddings_are_computed_once_and_cached_on_disk(tmp_path):
    intents._MEMORY.clear()
    embedder = CountingEmbedder()
    first = IntentIndex(embedder, cache_dir=tmp_path).matrix()
    n = embedder.texts
    assert n == sum(len(p.examples) for p in IntentIndex(embedder).phrasings)
    IntentIndex(embedder, cache_dir=tmp_path).matrix()  # the process's copy
    intents._MEMORY.clear()
    again = IntentIndex(embedder, cache_dir=tmp_path).matrix()  # the disk's copy
    assert embedder.texts == n and np.array_equal(first, again)
    assert [p.name for p in tmp_path.iterdir()] == [f"intents-{IntentIndex(embedder).key}.npy"]
