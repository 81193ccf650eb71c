"""Scenario tests: real Update JSON through the webhook (and getUpdates), the real PTB Application,
and a loopback fake Bot API that records what Telegram would have received."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from graph.planner import Plan, PlanRequest
from memory.tables import InboxItem, LedgerEntry
from tests.bot.telegram.harness import (
    OPERATOR,
    OPS,
    STRANGER,
    callback_update,
    fake_telegram,
    message_update,
    running,
)
from tests.fakes.server import wait_for


def ledger_rows(app) -> int:
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


def test_message_card_approve_undo(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        assert fake.to("setMyCommands")[0]["commands"][0]["command"] == "status"
        assert fake.to("setWebhook")[0]["secret_token"] == "s3cret-token_for-webhooks"

        assert tg.post(message_update("expense 12.50 coffee with <Dana> & co")).status_code == 200
        tg.drain()
        [card] = tg.sent()
        assert card["parse_mode"] == "HTML" and "&lt;Dana&gt; &amp; co" in card["text"]
        buttons = tg.buttons(card)
        assert list(buttons) == ["Approve", "Reject"]
        # callback_data is an opaque token: short, and not the approval id.
        assert all(len(v.encode()) <= 64 and not v.startswith("ap_") for v in buttons.values())
        assert ledger_rows(app) == 0

        tg.post(callback_update(buttons["Approve"], tg.message_of(card)))
        tg.drain()
        assert fake.to("answerCallbackQuery")[-1].get("show_alert") in (None, False, "false")
        [edit] = fake.to("editMessageText")
        assert (
            int(edit["message_id"]) == card["_message_id"]
            and f"Approved by telegram:{OPERATOR}" in edit["text"]
        )
        assert not (edit.get("reply_markup") or {}).get("inline_keyboard")  # buttons gone
        done = tg.sent()[-1]
        assert done["text"].startswith("Done: Recorded expense") and list(tg.buttons(done)) == ["Undo"]
        assert ledger_rows(app) == 1

        tg.post(callback_update(tg.buttons(done)["Undo"], tg.message_of(done)))
        tg.drain()
        assert fake.to("editMessageText")[-1]["text"].startswith("Undone:")
        assert ledger_rows(app) == 2


def test_wrong_secret_and_malformed_bodies_are_refused(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        assert tg.post(message_update("expense 1 x"), secret="wrong").status_code == 403
        assert tg.post(message_update("expense 1 x"), secret=None).status_code == 403
        assert tg.post(b"{not json").status_code == 400
        assert tg.post(b'{"update_id": "nope"}').status_code == 400
        assert tg.post(b"[1, 2]").status_code == 400
        tg.drain()
        assert tg.sent() == []
    with Session(app.db) as s:
        assert s.exec(select(func.count()).select_from(InboxItem)).one() == 0


def test_duplicate_update_and_edited_message_never_act_twice(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        update = message_update("task call Sam")
        for _ in range(3):
            assert tg.post(update).status_code == 200
        edited = message_update("task call Sam twice")
        edited["edited_message"] = edited.pop("message")
        tg.post(edited)
        tg.drain()
        assert len(tg.sent()) == 1


def test_non_operator_stale_and_double_clicks(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        tg.post(message_update("expense 5 stamps"))
        tg.drain()
        [card] = tg.sent()
        approve = tg.buttons(card)["Approve"]

        tg.post(callback_update(approve, tg.message_of(card), uid=STRANGER))
        tg.drain()
        alert = fake.to("answerCallbackQuery")[-1]
        assert alert["show_alert"] in (True, "true") and alert["text"].startswith(
            "Only this workspace's operators"
        )
        assert app.engine.pending() and ledger_rows(app) == 0

        tg.post(callback_update("forged-token-that-was-never-issued", tg.message_of(card)))
        tg.drain()
        assert fake.to("answerCallbackQuery")[-1]["text"] == "This button is no longer valid."

        for _ in range(2):
            tg.post(callback_update(approve, tg.message_of(card)))
        tg.drain()
        assert ledger_rows(app) == 1
        # The second click is told, in an alert when it arrives after the decision, or in the chat when the
        # two clicks raced past the alert's check together.
        told = [a.get("text", "") for a in fake.to("answerCallbackQuery")] + [m["text"] for m in tg.sent()]
        assert any(t.startswith("Already approved") for t in told)


def test_restart_between_card_and_click(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url):
        with running(app, fake, url) as tg:
            tg.post(message_update("income 40 invoice 7"))
            tg.drain()
            [card] = tg.sent()
        app.close()
        app2 = app_factory(settings=OPS)
        with running(app2, fake, url) as tg2:
            tg2.post(callback_update(tg2.buttons(card)["Approve"], tg2.message_of(card)))
            tg2.drain()
            assert int(fake.to("editMessageText")[-1]["message_id"]) == card["_message_id"]
            assert tg2.sent()[-1]["text"].startswith("Done: Recorded income")
        assert ledger_rows(app2) == 1


class Verbose:
    name = "verbose"

    def plan(self, request: PlanRequest) -> Plan:
        para = "A paragraph about <things> & stuff. " * 20
        return Plan(reply="\n\n".join([para.strip()] * 7), planner=self.name)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_5000_character_reply_is_split_on_paragraphs(app_factory):
    app = app_factory(settings=OPS, planner=Verbose())
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        fake.rate_limit["sendMessage"] = 1  # one 429 with retry_after first: honoured, nothing lost
        tg.post(message_update("tell me everything"))
        tg.drain()
        parts = [m["text"] for m in tg.sent()]
        assert len(parts) == 3  # the first attempt got the 429, then two parts
        parts = parts[1:]
        assert all(len(p) <= 4096 for p in parts)
        assert "".join(p.replace("\n\n", "") for p in parts).count("A paragraph about &lt;things&gt;") == 140
        assert all(p.endswith("stuff.") for p in parts)  # cut between paragraphs


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_commands_and_groups(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        tg.post(message_update("/status"))
        tg.post(message_update("/budget@coo_bot"))
        tg.post(message_update("/status", uid=STRANGER))
        tg.drain()
        texts = [m["text"] for m in tg.sent()]
        assert any("Pending approvals: 0" in t for t in texts)
        assert any("(no cap)" in t for t in texts)
        [photo] = fake.to("sendPhoto")  # /budget's 30-day chart, as a photo
        assert photo["photo"]["filename"].endswith(".png")
        assert any(t.startswith("I only take requests") for t in texts)
        n = len(texts)
        # In a group: plain chatter is ignored; a mention is a request.
        tg.post(message_update("expense 3 tea", chat_id=-100123, chat_type="supergroup"))
        tg.post(message_update("@coo_bot expense 3 tea", chat_id=-100123, chat_type="supergroup"))
        tg.drain()
        new = tg.sent()[n:]
        assert len(new) == 1 and new[0]["chat_id"] in (-100123, "-100123") and tg.buttons(new[0])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_polling_mode_takes_updates_from_get_updates(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url, webhook=False) as tg:
        assert fake.to("deleteWebhook")
        update = message_update("expense 2 gum")
        fake.push(update)
        fake.push(update)  # delivered twice (e.g. after a restart): acts once
        wait_for(
            lambda: any(int(p.get("offset") or 0) > update["update_id"] for p in fake.to("getUpdates")),
            what="getUpdates to confirm the update",
        )
        tg.drain()
        wait_for(lambda: len(tg.sent()) >= 1, what="the card")
        assert len(tg.sent()) == 1 and tg.buttons(tg.sent()[0])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_edit_a_card_by_replying_with_the_change(app_factory):
    from tests.fakes.telegram_api import BOT_USER

    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        tg.post(message_update("expense 12 lunch"))
        tg.drain()
        [card] = tg.sent()
        assert "reply to this message with key=value" in card["text"]
        replied = {
            "message_id": card["_message_id"],
            "from": BOT_USER,
            "date": 0,
            "text": card["text"],
            "chat": {"id": OPERATOR, "type": "private", "first_name": "Test"},
        }
        tg.post(message_update('amount=15 memo="lunch with Sam"', reply_to=replied))
        tg.drain()
        # The old card is closed in place; a new card with the edited, re-validated arguments replaces it.
        assert (
            "Edited by telegram:" in fake.to("editMessageText")[-1]["text"]
            or "edited" in fake.to("editMessageText")[-1]["text"].lower()
        )
        new = tg.sent()[-1]
        assert '"amount":"15.00"' in new["text"] and "lunch with Sam" in new["text"]
        tg.post(callback_update(tg.buttons(new)["Approve"], tg.message_of(new)))
        tg.drain()
        assert (
            tg.sent()[-1]["text"].startswith("Done: Recorded expense") and "$15.00" in tg.sent()[-1]["text"]
        )
        assert ledger_rows(app) == 1
        # A bad edit changes nothing and says why.
        tg.post(message_update("expense 3 tea"))
        tg.drain()
        card2 = tg.sent()[-1]
        replied2 = {**replied, "message_id": card2["_message_id"]}
        tg.post(message_update("amount=-4", reply_to=replied2))
        tg.drain()
        assert tg.sent()[-1]["text"].startswith("Nothing was changed")
        # An edit that would be rounded is refused too, with the reason (never 1.00)
        tg.post(message_update("amount=1.001", reply_to=replied2))
        tg.drain()
        refused = tg.sent()[-1]["text"]
        assert refused.startswith("Nothing was changed") and "more than two decimals" in refused
