"""Drive coo's real HTTP server the way Slack does: signed requests with real payload shapes.

Payloads start from the fixtures copied from bolt-python's tests (tests/fixtures/slack/) with ids,
text and timestamps changed. Requests are signed with slack_sdk's SignatureVerifier.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.app import App
from bot.server import build_server
from bot.slack.channel import SlackChannel
from tests.fakes.server import serve
from tests.fakes.slack_api import FakeSlack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example signing secret
OPERATOR = "W111"  # the user in bolt's fixtures
STRANGER = "W999"
OPS = {"coo_operators": [f"slack:{OPERATOR}"]}

_seq = itertools.count(1)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def dm_event(text: str, *, user: str = OPERATOR, event_id: str | None = None, **event: Any) -> dict[str, Any]:
    """An event_callback carrying a message in a DM (message.im)."""
    n = next(_seq)
    body = fixture("slack_message_event.json")
    ts = f"1596183880.{n:06d}"
    body["event"].update(
        {
            "text": text,
            "user": user,
            "ts": ts,
            "event_ts": ts,
            "channel": "D111",
            "channel_type": "im",
            "client_msg_id": f"msg-{n}",
        }
    )
    body["event"]["blocks"][0]["elements"][0]["elements"][0]["text"] = text
    body["event"].update(event)
    body["event_id"] = event_id or f"Ev{n:08d}"
    return body


def mention_event(text: str, *, user: str = OPERATOR, thread_ts: str | None = None) -> dict[str, Any]:
    """An event_callback carrying an app_mention in a channel."""
    n = next(_seq)
    body = fixture("slack_app_mention_event.json")
    ts = f"1595926230.{n:06d}"
    body["event"].update({"text": text, "user": user, "ts": ts, "event_ts": ts})
    if thread_ts:
        body["event"]["thread_ts"] = thread_ts
    body["event_id"] = f"Ev{n:08d}"
    return body


def block_actions(
    action_id: str, value: str, *, message: dict[str, Any], user: str = OPERATOR
) -> dict[str, Any]:
    """A block_actions payload for a click on a button of a message the bot posted."""
    n = next(_seq)
    body = fixture("slack_block_actions.json")
    body["user"]["id"] = user
    body["container"] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": message["channel"],
        "is_ephemeral": False,
    }
    body["channel"]["id"] = message["channel"]
    body["message"] = {
        k: v for k, v in message.items() if k in ("type", "user", "ts", "thread_ts", "text", "blocks")
    }
    body["trigger_id"] = f"111.222.trigger{n}"
    body["actions"] = [
        {
            "action_id": action_id,
            "block_id": "b",
            "text": {"type": "plain_text", "text": action_id.capitalize(), "emoji": True},
            "value": value,
            "type": "button",
            "action_ts": f"1596530385.{n:06d}",
        }
    ]
    return body


def view_submission(view: dict[str, Any], values: dict[str, str], *, user: str = OPERATOR) -> dict[str, Any]:
    """A view_submission for a modal coo opened (as views.open received it), with some inputs changed."""
    body = fixture("slack_view_submission.json")
    body["user"]["id"] = user
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            name = block["block_id"].removeprefix("arg:")
            value = values.get(name, block["element"].get("initial_value"))
            state[block["block_id"]] = {"value": {"type": "plain_text_input", "value": value}}
    body["view"].update(
        {
            "id": view["id"],
            "blocks": view["blocks"],
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": state},
            "hash": f"1596530361.h{next(_seq)}",
        }
    )
    return body


def slash_command(command: str, response_url: str, *, user: str = OPERATOR, text: str = "") -> str:
    """A slash command as Slack posts it: a form body."""
    fields = dict(parse_qsl((FIXTURES / "slack_slash_command.txt").read_text().strip()))
    fields.update({"command": command, "text": text, "user_id": user, "response_url": response_url})
    return urlencode(fields)


class Slack:
    """coo's server with the Slack mount, served on loopback, plus a signed-request client."""

    def __init__(self, app: App, fake: FakeSlack, fake_url: str) -> None:
        self.app = app
        self.fake = fake
        self.fake_url = fake_url
        self.channel = SlackChannel(
            app, bot_token=fake.token, signing_secret=SECRET, api_url=f"{fake_url}/api/"
        )
        self.server = build_server(app, [self.channel.mount()])
        self.url = ""
        self.http = httpx.Client(timeout=10)

    def sign(self, body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig or ""}

    def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str = SECRET,
    ) -> httpx.Response:
        h = {"Content-Type": content_type, **self.sign(body, timestamp, secret), **(headers or {})}
        return self.http.post(f"{self.url}/slack/events", content=body.encode(), headers=h)

    def event(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post(json.dumps(payload), "application/json", **kw)

    def click(
        self, action_id: str, value: str, *, message: dict[str, Any], user: str = OPERATOR
    ) -> httpx.Response:
        payload = block_actions(action_id, value, message=message, user=user)
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def submit(self, view: dict[str, Any], values: dict[str, str], *, user: str = OPERATOR) -> httpx.Response:
        payload = view_submission(view, values, user=user)
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def command(self, command: str, *, user: str = OPERATOR) -> tuple[httpx.Response, str]:
        rid = f"cmd{next(_seq)}"
        body = slash_command(command, f"{self.fake_url}/response/{rid}", user=user)
        return self.post(body, "application/x-www-form-urlencoded"), f"response_url:{rid}"

    def drain(self) -> None:
        """Wait until the server has finished all the work started so far."""
        assert self.channel.loop is not None
        asyncio.run_coroutine_threadsafe(self.channel.drain(), self.channel.loop).result(timeout=60)

    def posted(self) -> list[dict[str, Any]]:
        """The messages coo posted, in order, with the channel and ts Slack gave them."""
        out = []
        for (channel, ts), msg in self.fake.messages.items():
            out.append({**copy.deepcopy(msg), "channel": channel, "ts": ts})
        return sorted(out, key=lambda m: float(m["ts"]))


@contextmanager
def fake_slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serve(fake.app()) as url:
        yield fake, url


@contextmanager
def running(app: App, fake: FakeSlack, fake_url: str) -> Iterator[Slack]:
    """Run coo's server (startup recovery included) until the block ends."""
    slack = Slack(app, fake, fake_url)
    with serve(slack.server, lifespan="on") as url:
        slack.url = url
        yield slack
    slack.http.close()


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Return {action_id: value} for the buttons of a posted message."""
    out = {}
    for block in message.get("blocks") or []:
        if block["type"] == "actions":
            for el in block["elements"]:
                out[el["action_id"]] = el["value"]
    return out


def text_of(message: dict[str, Any]) -> str:
    """Return the visible text of a message's blocks (or its fallback text)."""
    parts = []
    for block in message.get("blocks") or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for el in block.get("elements", []):
            if el.get("type") == "mrkdwn":
                parts.append(el["text"])
    return "\n".join(parts) or message.get("text", "")
