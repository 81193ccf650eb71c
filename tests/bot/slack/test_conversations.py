"""Scenario: conversations through the real server — DMs, mentions, threads, what never triggers a run."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from memory.tables import InboxItem, LedgerEntry
from tests.bot.slack.harness import (
    OPERATOR,
    OPS,
    STRANGER,
    buttons,
    dm_event,
    fake_slack,
    mention_event,
    running,
    text_of,
)


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings=OPS)
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def count(app, table) -> int:
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(table)).one()


def test_dm_card_approve_done_undo(slack):
    # Given an operator's DM asking for an expense
    event = dm_event("expense 12.50 coffee & cake")
    assert slack.event(event).status_code == 200
    slack.drain()

    # Then a card is posted in the DM thread of that message, with Approve / Reject carrying the approval id
    [card] = slack.posted()
    assert card["channel"] == "D111" and card["thread_ts"] == event["event"]["ts"]
    assert card["unfurl_links"] is False and card["unfurl_media"] is False
    assert card["blocks"][0]["type"] == "header"
    body = text_of(card)
    assert "bookkeeping.record_expense" in body and "coffee &amp; cake" in body and "Reversible" in body
    ids = buttons(card)
    assert set(ids) == {"approve", "reject", "edit"} and ids["approve"] == ids["reject"] == ids["edit"]
    assert ids["approve"].startswith("ap_")
    assert count(slack.app, LedgerEntry) == 0

    # When the operator approves
    assert slack.click("approve", ids["approve"], message=card).status_code == 200
    slack.drain()

    # Then the card is updated in place (who, when, no buttons) and the effect is posted with Undo
    [update] = slack.fake.to("chat.update")
    assert (update["channel"], update["ts"]) == ("D111", card["ts"])
    assert f"Approved by slack:{OPERATOR} at" in text_of(update)
    assert not buttons(update)
    done = slack.posted()[-1]
    assert done["thread_ts"] == event["event"]["ts"]
    assert text_of(done).startswith("Done: Recorded expense")
    assert count(slack.app, LedgerEntry) == 1

    # When the operator clicks Undo, the Done message is updated in place and the entry reversed
    slack.click("undo", buttons(done)["undo"], message=done)
    slack.drain()
    undo_update = slack.fake.to("chat.update")[-1]
    assert undo_update["ts"] == done["ts"] and text_of(undo_update).startswith("Undone:")
    assert not buttons(undo_update)
    assert count(slack.app, LedgerEntry) == 2


def test_mention_in_channel_replies_in_its_thread(slack):
    root = mention_event("<@UBOT> balance")
    slack.event(root)
    slack.drain()
    [reply] = slack.posted()
    assert reply["channel"] == "C111" and reply["thread_ts"] == root["event"]["ts"]
    assert text_of(reply) == "Balance: $0.00."

    # A mention inside that thread continues the same conversation
    follow = mention_event("<@UBOT> expense 3 tea", thread_ts=root["event"]["ts"])
    slack.event(follow)
    slack.drain()
    card = slack.posted()[-1]
    assert card["thread_ts"] == root["event"]["ts"]
    with Session(slack.app.db) as s:
        convs = {i.conversation for i in s.exec(select(InboxItem)).all()}
    assert convs == {f"slack:C111:{root['event']['ts']}"}


def test_edits_subtypes_bots_channel_chatter_and_own_messages_start_nothing(slack):
    edited = dm_event("expense 99 edited", subtype="message_changed")
    bot = dm_event("expense 99 from a bot", bot_id="B222")
    own = dm_event("expense 99 mine", user="UBOT")
    chatter = dm_event("expense 99 in a channel", channel="C111", channel_type="channel")
    for e in (edited, bot, own, chatter):
        assert slack.event(e).status_code == 200
    slack.drain()
    assert slack.fake.to("chat.postMessage") == []
    assert count(slack.app, InboxItem) == 0


def test_stranger_is_told_no_and_nothing_runs(slack):
    slack.event(dm_event("expense 5 sneaky", user=STRANGER))
    slack.drain()
    [reply] = slack.posted()
    assert text_of(reply).startswith("I only take requests from this workspace's operators")
    assert slack.app.engine.pending() == []


def test_once_messages_skip_bolt_the_bots_own_still_start_nothing(slack):
    # The first event goes through bolt, which tells the bot's own user id; later messages skip bolt
    first = dm_event("balance")
    slack.event(first)
    slack.drain()
    assert len(slack.posted()) == 1
    own = dm_event("expense 99 mine", user="UBOT")
    again = dm_event("balance")
    for e in (own, again):
        assert slack.event(e).status_code == 200
    slack.drain()
    # Then the operator's second message is answered, and the bot's own message starts nothing
    assert [p["thread_ts"] for p in slack.posted()] == [first["event"]["ts"], again["event"]["ts"]]
    assert count(slack.app, InboxItem) == 2
