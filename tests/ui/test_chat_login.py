"""`/login` and `/logout all` through the real chat front doors (the one command table serves them all)."""

from __future__ import annotations

import pytest

from tests.bot.telegram.harness import OPS, STRANGER, fake_telegram, message_update, running


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_telegram_login_gives_operators_a_link_and_logout_all_ends_sessions(app_factory):
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        tg.post(message_update("/login"))
        tg.post(message_update("/login", uid=STRANGER))
        tg.drain()
        texts = [m["text"] for m in tg.sent()]
        assert sum(f"{app.settings.public_url}/ui/login/" in t for t in texts) == 1, texts
        tg.post(message_update("/logout all"))
        tg.drain()
        assert tg.sent()[-1]["text"].startswith("Signed out of the web console everywhere")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_telegram_card_approved_in_the_web_is_edited_in_place(app_factory):
    import re

    import httpx

    from bot.server import build_server
    from bot.ui import login_reply, mount
    from tests.bot.telegram.harness import Telegram
    from tests.fakes.server import serve, wait_for

    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url):
        tg = Telegram(app, fake, url)
        tg.server = build_server(app, [tg.channel.mount(), mount(app)])
        with serve(tg.server, lifespan="on") as base, tg.http, httpx.Client(base_url=base, timeout=30) as web:
            tg.url = base
            wait_for(
                lambda: tg.channel.loop is not None and fake.to("setMyCommands"), what="telegram startup"
            )
            tg.post(message_update("expense 3 tea"))
            tg.drain()
            card = tg.sent()[-1]
            assert "Approve" in " ".join(tg.buttons(card))
            operator = next(op for op in app.settings.coo_operators if op.startswith("telegram:"))
            link = re.search(r"/ui/login/\S+", login_reply(app, operator)[0].text).group(0)
            nonce = re.search(r'name="nonce" value="([^"]+)"', web.get(link).text).group(1)
            inbox = web.post(link, data={"nonce": nonce}, follow_redirects=True).text
            approval = re.search(r"/ui/approvals/(ap_\w+)/decide", inbox).group(1)
            csrf = re.search(r'name="csrf" value="([^"]+)"', inbox).group(1)
            done = web.post(
                f"/ui/approvals/{approval}/decide",
                data={"csrf": csrf, "decision": "approve"},
                follow_redirects=True,
            )
            assert "Approved; the card in chat was updated." in done.text
            [edit] = fake.to("editMessageText")
            assert edit["message_id"] in (card["_message_id"], str(card["_message_id"]))
            assert edit["text"].startswith(f"Approved by {operator}")
            assert any(m["text"].startswith("Done: ") for m in tg.sent())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sign_in_link_is_never_posted_in_a_group(app_factory):
    # Given an operator in a Telegram group, where everyone in it reads what the bot answers
    app = app_factory(settings=OPS)
    with fake_telegram() as (fake, url), running(app, fake, url) as tg:
        # When they send /login there (as /login@bot, as Telegram writes it in groups)
        tg.post(message_update("/login@coo_bot", chat_id=-100555, chat_type="supergroup"))
        tg.drain()
        # Then no link is posted; they are told to ask in a private chat, which does get one
        [answer] = tg.sent()
        assert "/ui/login/" not in answer["text"] and "private chat" in answer["text"]
        tg.post(message_update("/login"))
        tg.drain()
        assert f"{app.settings.public_url}/ui/login/" in tg.sent()[-1]["text"]
    with app.db.connect() as c:  # and the refused request minted no link
        from sqlalchemy import text

        assert c.execute(text("select count(*) from uilink")).scalar() == 1


def test_which_conversations_others_read():
    from bot.commands import is_shared

    assert is_shared("telegram:-100555") and is_shared("telegram:-42:7")
    assert not is_shared("telegram:12345") and not is_shared("console:local")
    assert is_shared("slack:C111:1596183880.000002") and not is_shared("slack:D111:1596183880.000002")
