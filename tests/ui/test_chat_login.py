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
