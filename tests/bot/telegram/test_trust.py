"""Scenario: graduated autonomy in Telegram — the promotion card, an operator's grant, /trust and /trust set."""

from __future__ import annotations

from memory import trust as store
from tests.bot.telegram.harness import (
    OPERATOR,
    OPS,
    STRANGER,
    callback_update,
    fake_telegram,
    message_update,
    running,
)

KIND = "bookkeeping.record_expense"


def approve(tg, text: str) -> None:
    tg.post(message_update(text))
    tg.drain()
    card = tg.sent()[-1]
    tg.post(callback_update(tg.buttons(card)["Approve"], tg.message_of(card)))
    tg.drain()


def test_promotion_card_grant_and_trust_commands(app_factory):
    app = app_factory(settings={**OPS, "coo_trust_streak": 2})
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        assert "trust" in [c["command"] for c in fake.to("setMyCommands")[0]["commands"]]
        approve(tg, "expense 8 tea")
        approve(tg, "expense 14.20 milk")
        [offer] = [m for m in tg.sent() if "without asking" in m["text"]]
        assert f"Do {KIND} up to $20 without asking?" in offer["text"]
        assert "Largest approved: $14.20" in offer["text"] and list(tg.buttons(offer)) == [
            "Approve",
            "Reject",
        ]

        tg.post(callback_update(tg.buttons(offer)["Approve"], tg.message_of(offer), uid=STRANGER))
        tg.drain()
        assert store.level_of(app.db, KIND) is None  # a stranger's click grants nothing
        tg.post(callback_update(tg.buttons(offer)["Approve"], tg.message_of(offer)))
        tg.drain()
        level = store.level_of(app.db, KIND)
        assert level is not None and (level.level, level.bound_cents, level.by) == (
            "auto",
            20_00,
            f"telegram:{OPERATOR}",
        )

        tg.post(message_update("/trust"))
        tg.drain()
        report = tg.sent()[-1]["text"]
        assert f"{KIND}: auto up to $20 · 2 approved" in report

        # /trust set raises a card; rejecting it changes nothing.
        tg.post(message_update(f"/trust set {KIND} ask"))
        tg.drain()
        card = tg.sent()[-1]
        assert f"Ask before every {KIND} again?" in card["text"]
        tg.post(message_update(f"/trust set {KIND} ask", uid=STRANGER))
        tg.drain()
        assert tg.sent()[-1]["text"].startswith("I only take requests")  # a stranger raises no card
        tg.post(callback_update(tg.buttons(card)["Approve"], tg.message_of(card)))
        tg.drain()
        level = store.level_of(app.db, KIND)
        assert level is not None and level.level == "ask"
