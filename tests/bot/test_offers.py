"""Scenario: a "did you mean" offers its commands as buttons (Slack: Block Kit; Telegram: an inline
keyboard); a click re-enters the chosen command as the clicker's message in the offer's conversation,
once, and only there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.bot.slack import harness as sh
from tests.bot.telegram import harness as th

LINE = "what do i owe"  # not a command; the nearest are `balance`, `invoices` and `tasks`
CHOICES = ["balance", "invoices", "tasks"]
TG_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "telegram" / "tg_update_callback_query.json"


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings=sh.OPS)
    with sh.fake_slack() as (fake, url), sh.running(app, fake, url) as s:
        yield s


def slack_offer(slack: sh.Slack) -> dict[str, Any]:
    slack.event(sh.dm_event(LINE))
    slack.drain()
    offer = slack.posted()[-1]
    assert "Did you mean" in sh.text_of(offer)
    return offer


def test_slack_offer_buttons_and_a_choice_acts_once(slack):
    offer = slack_offer(slack)
    choices = sh.buttons(offer)
    # Action ids are unique within the block, as Block Kit requires; the value names the choice.
    assert list(choices) == ["choose", "choose-2", "choose-3"]
    assert [v.partition("|")[2] for v in choices.values()] == CHOICES
    slack.fake.reset()

    # The real block_actions payload, sent twice (a retried delivery), then a second click on the button.
    body = sh.block_actions("choose", choices["choose"], message=offer)
    for _ in range(2):
        assert (
            slack.post("payload=" + quote(json.dumps(body)), "application/x-www-form-urlencoded").status_code
            == 200
        )
    slack.drain()
    [answer] = slack.fake.to("chat.postMessage")
    assert answer["channel"] == "D111" and sh.text_of(answer).startswith("Balance:")

    assert slack.click("choose", choices["choose"], message=offer).status_code == 200
    slack.drain()
    assert len(slack.fake.to("chat.postMessage")) == 1  # no second answer
    [told] = slack.fake.to("chat.postEphemeral")
    assert told["user"] == sh.OPERATOR and "chosen already" in told["text"]


def test_slack_choice_from_another_conversation_or_a_stranger_is_refused(slack):
    offer = slack_offer(slack)
    choices = sh.buttons(offer)
    slack.fake.reset()

    slack.click("choose-2", choices["choose-2"], message={**offer, "channel": "C999"})
    slack.click("choose-2", choices["choose-2"], message=offer, user=sh.STRANGER)
    slack.drain()
    assert slack.fake.to("chat.postMessage") == []
    told = sorted(m["text"] for m in slack.fake.to("chat.postEphemeral"))
    assert told[0].startswith("Only this workspace's operators") and "another conversation" in told[1]

    slack.click("choose-2", choices["choose-2"], message=offer)  # the offer's own conversation still works
    slack.drain()
    [answer] = slack.fake.to("chat.postMessage")
    assert "invoice" in sh.text_of(answer).lower()


def tg_click(data: str, message: dict[str, Any], uid: int = th.OPERATOR) -> dict[str, Any]:
    """The guide's callback_query Update, with what the current Bot API adds (see the fixtures' README)."""
    update = json.loads(TG_FIXTURE.read_text())
    generated = th.callback_update(data, message, uid=uid)
    update["update_id"] = generated["update_id"]
    q = update["callback_query"]
    q.update({k: generated["callback_query"][k] for k in ("id", "chat_instance", "message", "data")})
    q["from"] = {**q["from"], **th.user(uid)}
    return update


def test_telegram_offer_keyboard_and_a_choice_acts_once(app_factory):
    app = app_factory(settings=th.OPS)
    with th.fake_telegram() as (fake, url), th.running(app, fake, url) as tg:
        tg.post(th.message_update(LINE))
        tg.drain()
        offer = tg.sent()[-1]
        assert "Did you mean" in offer["text"]
        keys = tg.buttons(offer)
        assert list(keys) == CHOICES
        assert all(len(row) == 1 for row in offer["reply_markup"]["inline_keyboard"])  # one command a row

        tg.post(tg_click(keys["tasks"], tg.message_of(offer), uid=th.STRANGER))
        tg.drain()
        assert fake.to("answerCallbackQuery")[-1]["text"].startswith("Only this workspace's operators")
        assert len(tg.sent()) == 1

        click = tg_click(keys["tasks"], tg.message_of(offer))
        for update in (click, click, tg_click(keys["tasks"], tg.message_of(offer))):
            tg.post(update)  # a retried delivery of one click, then a second click
            tg.drain()
        said = [m["text"] for m in tg.sent()[1:]]
        assert [t for t in said if "chosen already" not in t] == ["No open tasks."], said
        assert any("chosen already" in t for t in said)
