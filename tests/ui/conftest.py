"""The web console under a Starlette TestClient: an App on the console channel, signed in or not."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.app import CONSOLE_ACTOR, App
from bot.console import format_reply
from bot.notify import ConsoleOutbound
from bot.server import build_server
from bot.ui import login_reply, mount

LINK = re.compile(r"https?://\S+/ui/login/(\S+)")


class Web:
    """A TestClient on coo's server with the web console mounted, and what the console printed."""

    def __init__(self, app: App, base_url: str = "http://127.0.0.1:8080") -> None:
        self.app = app
        self.printed = io.StringIO()
        app.notifier.register("console", ConsoleOutbound(self.printed, format_reply))
        self.client = TestClient(build_server(app, [mount(app)]), base_url=base_url)

    def link(self, actor: str = CONSOLE_ACTOR) -> str:
        [reply] = login_reply(self.app, actor)
        m = LINK.search(reply.text)
        assert m, reply.text
        return m.group(1)

    def sign_in(self, actor: str = CONSOLE_ACTOR) -> None:
        token = self.link(actor)
        page = self.client.get(f"/ui/login/{token}")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
        r = self.client.post(f"/ui/login/{token}", data={"nonce": nonce}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/inbox", r.text

    def csrf(self, path: str = "/ui/inbox") -> str:
        page = self.client.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

    def say(self, text: str) -> list[Any]:
        req = self.app.request("console", "console:web-test", CONSOLE_ACTOR, text)
        return self.app.engine.submit(req)


@pytest.fixture
def web(app_factory: Callable[..., App]) -> Iterator[Web]:
    app = app_factory(settings={"coo_operators": ["slack:U1"]})
    w = Web(app)
    with w.client:
        yield w
