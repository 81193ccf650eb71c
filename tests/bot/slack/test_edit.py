"""Scenario: Edit on a card — a modal with the arguments; the edit is validated and policed again."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from memory.tables import Approval, LedgerEntry
from tests.bot.slack.harness import OPERATOR, OPS, STRANGER, buttons, dm_event, fake_slack, running, text_of


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings={**OPS, "coo_hard_amount_limit_usd": 500})
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def open_editor(slack, text: str) -> tuple[dict, dict]:
    slack.event(dm_event(text))
    slack.drain()
    card = slack.posted()[-1]
    slack.click("edit", buttons(card)["edit"], message=card)
    slack.drain()
    opened = slack.fake.to("views.open")[-1]
    assert opened["trigger_id"].startswith("111.222.trigger")
    view = {**opened["view"], "id": "V9"}
    return card, view


def test_edit_replaces_the_card_and_the_edited_action_is_asked_again(slack):
    card, view = open_editor(slack, "expense 12.50 coffee")
    inputs = {b["block_id"]: b["element"]["initial_value"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs == {"arg:amount": "12.50", "arg:memo": "coffee"}

    # When the operator changes the amount and submits, the modal closes (empty ack)...
    resp = slack.submit(view, {"amount": "15", "memo": "coffee and a croissant"})
    assert resp.status_code == 200 and resp.text == ""
    slack.drain()

    # ...the old card says it was edited, without buttons, and a new card shows the edited action.
    [update] = slack.fake.to("chat.update")
    assert update["ts"] == card["ts"] and text_of(update).startswith(f"Edited by slack:{OPERATOR}")
    assert not buttons(update)
    new_card = slack.posted()[-1]
    assert new_card["ts"] != card["ts"] and new_card["thread_ts"] == card["thread_ts"]
    assert '"amount":"15.00"' in text_of(new_card) and "croissant" in text_of(new_card)
    with Session(slack.app.db) as s:
        statuses = sorted(a.status for a in s.exec(select(Approval)).all())
    assert statuses == ["pending", "rejected"]

    # The old card's Approve does nothing now; the new one records the edited amount once.
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.click("approve", buttons(new_card)["approve"], message=new_card)
    slack.drain()
    with Session(slack.app.db) as s:
        [entry] = s.exec(select(LedgerEntry)).all()
    assert entry.amount_cents == -1500 and entry.memo == "coffee and a croissant"


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("-3", "negative"),
        ("1.001", "more than two decimals"),
        ("€4", "books are in USD"),
        ("1e3", "scientific"),
    ],
)
def test_invalid_edit_stays_in_the_modal_and_changes_nothing(slack, typed, why):
    card, view = open_editor(slack, "expense 12.50 coffee")
    resp = slack.submit(view, {"amount": typed})
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_action"] == "errors" and why in body["errors"]["arg:amount"]
    slack.drain()
    assert slack.fake.to("chat.update") == []
    assert len(slack.app.engine.pending()) == 1


def test_policy_checks_the_edit_again(slack):
    card, view = open_editor(slack, "expense 12.50 coffee")
    slack.submit(view, {"amount": "900"})  # above this deployment's hard limit of $500
    slack.drain()
    assert text_of(slack.fake.to("chat.update")[0]).startswith("Edited by")
    assert text_of(slack.posted()[-1]).startswith("Refused: amount is above the hard limit")
    assert slack.app.engine.pending() == []


def test_stranger_cannot_open_the_editor(slack):
    slack.event(dm_event("expense 12.50 coffee"))
    slack.drain()
    card = slack.posted()[-1]
    slack.click("edit", buttons(card)["edit"], message=card, user=STRANGER)
    slack.drain()
    assert slack.fake.to("views.open") == []
    [refusal] = slack.fake.to("chat.postEphemeral")
    assert refusal["user"] == STRANGER and "operators" in refusal["text"]
