"""On the embedded defaults (the console, no `coo serve`), `/login` serves the web console itself."""

from __future__ import annotations

import re
import socket

import httpx

from bot.app import CONSOLE_ACTOR
from bot.commands import handle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_login_link_works_without_coo_serve(app_factory):
    app = app_factory(settings={"port": _free_port()})
    [reply] = handle(app, CONSOLE_ACTOR, "/login")
    link = re.search(r"http://127\.0\.0\.1:\d+/ui/login/\S+", reply.text).group(0)
    with httpx.Client(timeout=10) as http:
        page = http.get(link)
        assert page.status_code == 200 and "Sign in" in page.text
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
        signed = http.post(link, data={"nonce": nonce}, follow_redirects=True)
        assert signed.status_code == 200 and "<h1>Inbox</h1>" in signed.text
    [again] = handle(app, CONSOLE_ACTOR, "/login")  # a second link, the same server
    assert "/ui/login/" in again.text and again.text != reply.text
