from __future__ import annotations

from datetime import UTC, datetime

from agents.catalog import default_registry
from bot.console import format_reply
from bot.render import render
from graph import outcomes as o


def test_card_shows_exact_arguments_and_reversibility():
    a = default_registry().propose(
        "bookkeeping.record_expense", {"amount": "9.99", "memo": "x"}, run_id="r", index=0
    )
    reply = render(o.Ask("ap_1", "r", a, "changes need approval", datetime(2026, 1, 1, tzinfo=UTC)))
    text = format_reply(reply)
    assert 'Arguments: {"amount":"9.99","memo":"x"}' in text
    assert "Reversible: yes" in text
    assert [(b.action, b.value) for b in reply.card.buttons] == [("approve", "ap_1"), ("reject", "ap_1")]
