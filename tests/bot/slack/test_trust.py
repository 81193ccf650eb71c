"""Scenario: graduated autonomy in Slack — the promotion card after a streak, who may grant it, /trust."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import Session, select

from memory import trust as store
from memory.tables import Event
from tests.bot.slack.harness import (
    OPS,
    STRANGER,
    buttons,
    dm_event,
    fake_slack,
    running,
    slash_command,
    text_of,
)

KIND = "bookkeeping.record_expense"
_ids = itertools.count(1)


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings={**OPS, "coo_trust_streak": 2})
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def approve_card(slack, text: str) -> None:
    slack.event(dm_event(text))
    slack.drain()
    card = slack.posted()[-1]
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.drain()


def trust_command(slack, text: str = "") -> dict:
    rid = f"trust{next(_ids)}"
    body = slash_command("/trust", f"{slack.fake_url}/response/{rid}", text=text)
    assert slack.post(body, "application/x-www-form-urlencoded").status_code == 200
    slack.drain()
    [answer] = slack.fake.to(f"response_url:{rid}")
    return answer


def test_a_streak_posts_the_promotion_card_and_only_an_operator_grants_it(slack):
    approve_card(slack, "expense 20 taxi")
    assert not any("without asking" in text_of(m) for m in slack.posted())
    approve_card(slack, "expense 35 train")
    [offer] = [m for m in slack.posted() if "without asking" in text_of(m)]
    shown = text_of(offer)
    assert f"Do {KIND} up to $50 without asking?" in shown
    assert "2 approved unchanged (2 in a row)" in shown and "Largest approved: $35" in shown
    assert "Last undo: never" in shown

    slack.click("approve", buttons(offer)["approve"], message=offer, user=STRANGER)
    slack.drain()
    assert store.level_of(slack.app.db, KIND) is None  # a stranger's click grants nothing

    slack.click("approve", buttons(offer)["approve"], message=offer)
    slack.drain()
    level = store.level_of(slack.app.db, KIND)
    assert level is not None and (level.level, level.bound_cents, level.by) == ("auto", 50_00, "slack:W111")

    # Now within the bound it runs at once, and its Done still carries Undo.
    slack.event(dm_event("expense 12 pens"))
    slack.drain()
    done = slack.posted()[-1]
    assert "undo" in buttons(done) and "approve" not in buttons(done)

    report = trust_command(slack)
    assert report["response_type"] == "ephemeral"
    assert f"{KIND}: auto up to $50 · 2 approved, 0% overridden" in report["text"]
    assert "1 on auto" in report["text"]


def test_trust_set_raises_a_card_and_refuses_what_can_never_be_auto(slack):
    answer = trust_command(slack, f"set {KIND} auto 20")
    assert answer["text"].startswith("The card is posted")
    card = slack.posted()[-1]
    assert card["channel"] == "C111" and f"Do {KIND} up to $20 without asking?" in text_of(card)
    assert store.level_of(slack.app.db, KIND) is None  # a card, not a change
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.drain()
    level = store.level_of(slack.app.db, KIND)
    assert level is not None and (level.level, level.bound_cents) == ("auto", 20_00)
    refused = trust_command(slack, "set outreach.send_email auto")
    assert "never runs without asking" in refused["text"]
    too_much = trust_command(slack, f"set {KIND} auto 5000")
    assert "Auto never covers more than $100" in too_much["text"]


def test_an_advisory_card_asks_whether_coo_was_right_and_runs_nothing(slack):
    trust_command(slack, f"set {KIND} advisory")
    card = slack.posted()[-1]
    assert f"Put {KIND} in advisory mode?" in text_of(card)
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.drain()
    assert store.level_of(slack.app.db, KIND).level == "advisory"

    before = len(slack.posted())
    slack.event(dm_event("expense 40 ink"))
    slack.drain()
    card = slack.posted()[-1]
    assert "Advisory: coo would record" in text_of(card) and "did you do this?" in text_of(card)
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.drain()
    assert any("coo was right" in text_of(m) for m in slack.posted())
    assert not any("undo" in buttons(m) for m in slack.posted()[before:])  # no Done: coo did nothing
    with Session(slack.app.db) as s:
        assert s.exec(select(Event).where(Event.kind == "effect", Event.action == KIND)).first() is None
    assert "advisory: 1 right, 0 wrong (100% agreement)" in trust_command(slack)["text"]
