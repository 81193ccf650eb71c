"""The front door under hostile traffic, through coo's real server on loopback (issue 23).

One server for the module: Slack in HTTP mode, Telegram in webhook mode and one inbound hook, each
pointed at its loopback fake, served by uvicorn with coo's own connection limits (`bot.server`). The
strangers' requests are raw sockets (chunked and stalled bodies, non-ASCII headers); signed requests are
signed by slack_sdk's SignatureVerifier. Waits are on conditions with timeouts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from bot.app import App
from bot.hooks import Hooks
from bot.server import build_server, uvicorn_config
from bot.settings import Settings
from bot.slack.channel import SlackChannel
from bot.telegram.channel import TelegramChannel
from connectors.webhooks import signature_header
from memory.tables import InboxItem
from tests.bot.slack.harness import block_actions, buttons
from tests.fakes.server import serve, wait_for
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.security import probes

OPERATOR = "W111"
TG_OPERATOR = 1111111
TG_STRANGER = 2222222
TG_SECRET = "s3cret-token_for-webhooks"
METRICS_TOKEN = "metrics-token-0123456789"
LIMITS_SEEN: Any = None  # the running server's ConnectionLimits
LIMITS = {
    "coo_body_timeout_s": 1.0,
    "coo_header_timeout_s": 1.0,
    "coo_idle_timeout_s": 1.0,
    "coo_max_connections_per_client": 30,
}


@dataclass
class Door:
    """The running server and what the tests look at."""

    url: str
    app: App
    slack: SlackChannel
    telegram: TelegramChannel
    fake_slack: FakeSlack
    fake_telegram: FakeTelegram
    http: httpx.Client

    def slack_post(self, body: str, headers: dict[str, str | bytes] | None = None) -> int | None:
        return probes.request(self.url, "/slack/events", headers or probes.slack_headers(body), body.encode())

    def tg_post(self, update: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            f"{self.url}/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        )

    def drain(self) -> None:
        import asyncio

        for ch in (self.slack, self.telegram):
            assert ch.loop is not None
            asyncio.run_coroutine_threadsafe(ch.drain(), ch.loop).result(timeout=60)

    def inbox(self) -> list[InboxItem]:
        with Session(self.app.db) as s:
            return list(s.exec(select(InboxItem)).all())


@contextmanager
def guarded(app: App, asgi: Any) -> Iterator[str]:
    """Serve ``asgi`` as `coo serve` does (uvicorn with coo's limits) on a free loopback port."""
    config = uvicorn_config(app, asgi, "127.0.0.1", 0)
    global LIMITS_SEEN
    LIMITS_SEEN = config.http.guard
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="coo serve")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    tmp: Path = tmp_path_factory.mktemp("door")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        coo_data_dir=tmp,
        coo_operators=[f"slack:{OPERATOR}", f"telegram:{TG_OPERATOR}"],
        coo_hooks={"pay": {"secret": probes.HOOK_SECRET}},
        coo_hooks_to="slack:D0001",
        coo_metrics_token=METRICS_TOKEN,
        **LIMITS,
    )
    fake_slack, fake_tg = FakeSlack(), FakeTelegram()
    with (
        App(settings) as app,
        serve(fake_slack.app()) as slack_url,
        serve(fake_tg.app()) as tg_url,
    ):
        slack = SlackChannel(
            app, bot_token=fake_slack.token, signing_secret=probes.SLACK_SECRET, api_url=f"{slack_url}/api/"
        )
        telegram = TelegramChannel(
            app, token=fake_tg.token, base_url=f"{tg_url}/bot", webhook_secret=TG_SECRET, poll_timeout=0
        )
        asgi = build_server(app, [slack.mount(), telegram.mount(), Hooks(app).mount()])
        with guarded(app, asgi) as url, httpx.Client(timeout=30) as http:
            wait_for(lambda: slack.loop is not None and telegram.loop is not None, what="channels started")
            yield Door(url, app, slack, telegram, fake_slack, fake_tg, http)


def balance_reply_s(door: Door, tag: str) -> float:
    """Post the operator's ``balance`` as Slack would; return the seconds until its reply reached Slack."""
    before = len(door.fake_slack.to("chat.postMessage"))
    body = probes.slack_message("balance", f"Ev{tag}", user=OPERATOR)
    t0 = time.monotonic()
    assert door.slack_post(body) == 200
    wait_for(lambda: len(door.fake_slack.to("chat.postMessage")) > before, timeout=60, what="the reply")
    return time.monotonic() - t0


def rss_mib() -> float:
    return probes.rss_mib(__import__("os").getpid())


# ---- 1. memory: bodies are bounded streams ---------------------------------------------------------


def test_a_chunked_oversize_body_is_refused_413_without_growing_memory(door: Door) -> None:
    # Given: the server's memory now (it runs in this process), sampled while the body streams
    before = rss_mib()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib())
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # When: a 50 MB chunked body (no Content-Length) goes to /slack/events, unsigned
        status = probes.chunked_flood(door.url, "/slack/events", 50 << 20)
    finally:
        done.set()
        sampler.join()
    # Then: 413, and the server read only up to its cap
    assert status == 413
    assert peak - before < 8, f"RSS grew by {peak - before:.1f} MiB"


@pytest.mark.parametrize("path", ["/slack/events", "/telegram/webhook", "/hooks/pay"])
def test_every_route_caps_chunked_and_declared_bodies(door: Door, path: str) -> None:
    stored = len(door.inbox())
    assert probes.chunked_flood(door.url, path, 4 << 20) == 413
    declared = {"Content-Type": "application/json", "Content-Length": str(5 << 20), "Connection": "close"}
    with probes.connect(door.url) as sock:
        sock.sendall(probes.head(path, declared))
        assert probes.status_of(sock) == 413
    assert len(door.inbox()) == stored


# ---- 2. no stalls from strangers -------------------------------------------------------------------


def test_a_stalled_unsigned_body_does_not_hold_the_operators_reply(door: Door) -> None:
    # Given: "acknowledgements first" would hold engine runs 30 s while a request is in flight
    door.slack.dispatcher.ack_first_s = 30.0
    try:
        alone = balance_reply_s(door, "alone")
        # When: strangers hold connections that sent headers (Content-Length: 100) and no body
        with probes.stalled(door.url, "/slack/events", 10):
            wait_for(lambda: door.slack.dispatcher._in_flight == 0, what="nothing in flight")  # noqa: SLF001
            stalled = balance_reply_s(door, "stalled")
        # Then: the operator's reply does not wait for them
        assert door.slack.dispatcher._in_flight == 0  # noqa: SLF001
        assert stalled < alone + 5, f"{alone:.2f} s alone, {stalled:.2f} s with stalled bodies"
    finally:
        door.slack.dispatcher.ack_first_s = 2.0


def test_a_stalled_body_gets_408_and_its_connection_is_closed(door: Door) -> None:
    with probes.stalled(door.url, "/hooks/pay", 1) as (sock,):
        t0 = time.monotonic()
        sock.settimeout(10)
        assert probes.status_of(sock) == 408
        assert probes.closed_by_server(sock, 10)
        assert time.monotonic() - t0 < 5


def test_idle_and_slow_header_connections_are_dropped(door: Door) -> None:
    silent = probes.connect(door.url, source=probes.STRANGER)
    partial = probes.connect(door.url, source=probes.STRANGER)
    partial.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the head
    with silent, partial:
        assert probes.closed_by_server(silent, 10)
        assert probes.closed_by_server(partial, 10)
    # A kept-alive connection idle after a response is closed too.
    with probes.connect(door.url) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert probes.status_of(kept) == 200
        assert probes.closed_by_server(kept, 10)


def test_one_address_cannot_hold_more_than_its_share_of_connections(door: Door) -> None:
    cap = LIMITS["coo_max_connections_per_client"]
    held = [probes.connect(door.url, source=probes.STRANGER) for _ in range(int(cap))]
    try:
        for s in held:
            s.sendall(b"GET /he")  # opened, and held open by a slow head
        with probes.connect(door.url, source=probes.STRANGER) as extra:
            assert probes.status_of(extra) == 429
        # Another address (the platform's) is still served.
        assert door.http.get(f"{door.url}/healthz").status_code == 200
    finally:
        for s in held:
            s.close()
        wait_for(
            lambda: not LIMITS_SEEN.open.get(probes.STRANGER), what="the stranger's connections released"
        )


def test_a_client_gone_mid_body_is_one_log_line_not_a_traceback(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with probes.connect(door.url) as sock:
        sock.sendall(
            probes.head("/slack/events", {"Content-Type": "application/json", "Content-Length": "100"})
        )
        sock.sendall(b'{"type": ')
    wait_for(lambda: any("went away" in r.getMessage() for r in caplog.records), what="the disconnect logged")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


# ---- 3. malformed headers and payloads: 4xx, never 5xx ---------------------------------------------


def test_malformed_slack_signature_headers_get_401(door: Door) -> None:
    body = probes.slack_message("balance", "EvMalformedHeaders").encode()
    statuses = [probes.request(door.url, "/slack/events", h, body) for h in probes.malformed_slack_headers()]
    assert set(statuses) == {401}


def test_malformed_hook_signature_headers_get_401(door: Door) -> None:
    body = b'{"text": "hello"}'
    statuses = [probes.request(door.url, "/hooks/pay", h, body) for h in probes.malformed_hook_headers()]
    assert set(statuses) == {401}


def test_a_non_ascii_telegram_secret_gets_403(door: Door) -> None:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "é".encode()}
    assert probes.request(door.url, "/telegram/webhook", headers, b'{"update_id": 1}') == 403


def _signed_event(event: dict[str, Any], event_id: str) -> str:
    return json.dumps({"type": "event_callback", "team_id": "T111", "event_id": event_id, "event": event})


@pytest.mark.parametrize(
    "body",
    [
        _signed_event(
            {
                "type": "message",
                "channel_type": "im",
                "channel": "D1",
                "user": OPERATOR,
                "ts": "1.0",
                "text": {},
            },
            "EvTextObject",
        ),
        "[" * 50_000 + "]" * 50_000,
        '{"type": "event_callback", "event": ' + "[" * 50_000 + "]" * 50_000 + "}",
    ],
    ids=["text-object", "nested-arrays", "nested-in-event"],
)
def test_signed_malformed_slack_bodies_get_400(door: Door, body: str) -> None:
    assert door.slack_post(body) == 400


def test_unreadable_edit_modal_metadata_gets_400(door: Door) -> None:
    from urllib.parse import urlencode

    view = {
        "type": "modal",
        "callback_id": "coo_edit",
        "state": {"values": {}},
        "private_metadata": "{not json",
    }
    payload = {"type": "view_submission", "user": {"id": OPERATOR}, "view": view}
    body = urlencode({"payload": json.dumps(payload)})
    headers = {**probes.slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert probes.request(door.url, "/slack/events", headers, body.encode()) == 400


def test_deeply_nested_hook_body_gets_400(door: Door) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    header = signature_header(probes.HOOK_SECRET, int(time.time()), body)
    assert probes.request(door.url, "/hooks/pay", {"Webhook-Signature": header}, body) == 400


# ---- 6. secrets and strangers' text are not stored raw ---------------------------------------------


def _tg_message(uid: int, text: str, update_id: int) -> dict[str, Any]:
    user = {"id": uid, "is_bot": False, "first_name": "Someone", "username": f"u{uid}"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private", "first_name": "Someone"},
            "text": text,
        },
    }


def test_a_raw_telegram_update_is_stored_masked(door: Door) -> None:
    key = "sk-" + "A1b2C3d4E5f6G7h8I9j0"
    assert door.tg_post(_tg_message(TG_OPERATOR, f"remember the key {key}", 900_001)).status_code == 200
    door.drain()
    raw = {i.delivery_id: i for i in door.inbox()}["telegram-updates:900001"]
    stored = json.dumps(raw.meta)
    assert key not in stored and "remember the key ***" in stored
    assert all(key not in i.text and key not in json.dumps(i.meta) for i in door.inbox())


def test_a_strangers_message_keeps_only_ids(door: Door) -> None:
    secret_words = "my bank password is hunter2-hunter2"
    assert door.tg_post(_tg_message(TG_STRANGER, secret_words, 900_002)).status_code == 200
    door.drain()
    items = {i.delivery_id: i for i in door.inbox()}
    raw = items["telegram-updates:900002"]
    assert raw.meta["update"]["message"]["from"]["id"] == TG_STRANGER
    assert "hunter2" not in json.dumps(raw.meta) and "Someone" not in json.dumps(raw.meta)
    assert items["telegram:900002"].text == ""
    # and the stranger was told once
    refusals = [m for m in door.fake_telegram.to("sendMessage") if str(m["chat_id"]) == str(TG_STRANGER)]
    assert len(refusals) == 1


# ---- 9. a stranger's flood: one refusal per period -------------------------------------------------


def test_a_strangers_flood_gets_one_refusal(door: Door) -> None:
    before = len(door.fake_slack.to("chat.postMessage"))
    for i in range(20):
        body = probes.slack_message(f"hello {i}", f"EvFlood{i}", user="WSTRANGER", channel="D9999")
        assert door.slack_post(body) == 200
    door.drain()
    to_stranger = [m for m in door.fake_slack.to("chat.postMessage")[before:] if m.get("channel") == "D9999"]
    assert len(to_stranger) == 1
    assert all(i.text == "" for i in door.inbox() if i.actor == "slack:WSTRANGER")


# ---- 10. small items ------------------------------------------------------------------------------


def test_metrics_want_the_bearer_token(door: Door) -> None:
    assert door.http.get(f"{door.url}/metrics").status_code == 401
    assert door.http.get(f"{door.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = door.http.get(f"{door.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status_code == 200 and "coo_messages_total" in ok.text


def test_healthz_reports_the_inbox_retention(door: Door) -> None:
    inbox = door.http.get(f"{door.url}/healthz").json()["inbox"]
    assert inbox["retention_s"] == 30 * 24 * 3600 and inbox["last_pruned_at"] is not None


# ---- 7. an approval is bound to its conversation --------------------------------------------------


def _card(door: Door, text: str, event_id: str, channel: str) -> dict[str, Any]:
    before = len(door.fake_slack.to("chat.postMessage"))
    assert door.slack_post(probes.slack_message(text, event_id, user=OPERATOR, channel=channel)) == 200

    def card() -> dict[str, Any] | None:
        posted = door.fake_slack.to("chat.postMessage")[before:]
        return next((m for m in posted if m.get("channel") == channel and buttons(m).get("approve")), None)

    wait_for(lambda: card() is not None, timeout=60, what="the card")
    found = card()
    assert found is not None
    ts = next(
        ts
        for (ch, ts), m in door.fake_slack.messages.items()
        if ch == channel and m.get("blocks") == found["blocks"]
    )
    return {**found, "ts": ts}


def test_a_slack_click_from_another_conversation_is_refused(door: Door) -> None:
    from urllib.parse import urlencode

    # Given: a card asked in the operator's DM
    card = _card(door, "expense 12.50 coffee", "EvCross1", "D0001")
    approval = buttons(card)["approve"]
    # When: a click on it arrives from channel D9
    elsewhere = {**card, "channel": "D9"}
    body = urlencode(
        {"payload": json.dumps(block_actions("approve", approval, message=elsewhere, user=OPERATOR))}
    )
    headers = {**probes.slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    before = len(door.fake_slack.to("chat.postMessage"))
    assert probes.request(door.url, "/slack/events", headers, body.encode()) == 200
    door.drain()
    # Then: the clicker is told privately, the approval is still pending, nothing is posted in D9
    told = [m for m in door.fake_slack.to("chat.postEphemeral") if m.get("channel") == "D9"]
    assert told and "another conversation" in told[-1]["text"]
    assert door.app.approvals.get(approval).status == "pending"
    assert not [m for m in door.fake_slack.to("chat.postMessage")[before:] if m.get("channel") == "D9"]


def test_a_telegram_token_clicked_in_another_chat_is_refused(door: Door) -> None:
    # Given: a card asked in the operator's private chat
    sent = len(door.fake_telegram.to("sendMessage"))
    assert door.tg_post(_tg_message(TG_OPERATOR, "expense 7 lunch", 900_100)).status_code == 200
    door.drain()
    card = next(m for m in door.fake_telegram.to("sendMessage")[sent:] if m.get("reply_markup"))
    markup = card["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    token = next(
        b["callback_data"]
        for row in markup["inline_keyboard"]
        for b in row
        if b["text"].startswith("Approve")
    )
    # When: its token is clicked in a group
    group = {
        "message_id": 5,
        "date": int(time.time()),
        "chat": {"id": -100123, "type": "group", "title": "G"},
    }
    update = {
        "update_id": 900_101,
        "callback_query": {
            "id": "cq1",
            "chat_instance": "-1",
            "data": token,
            "from": {"id": TG_OPERATOR, "is_bot": False, "first_name": "Op"},
            "message": group,
        },
    }
    assert door.tg_post(update).status_code == 200
    door.drain()
    # Then: an alert to the clicker; nothing was decided or posted in the group
    alert = door.fake_telegram.to("answerCallbackQuery")[-1]
    assert "another conversation" in alert.get("text", "")
    assert not [m for m in door.fake_telegram.to("sendMessage") if str(m.get("chat_id")) == "-100123"]


# ---- 8. the fallback when a card cannot be edited ---------------------------------------------------


def test_the_fallback_post_of_an_uneditable_card_has_no_link_preview(door: Door) -> None:
    import asyncio

    from bot.messages import Reply

    door.fake_telegram.gone.add(424242)
    ref = {"chat_id": TG_OPERATOR, "message_id": 424242}
    reply = Reply(text="Paid https://example.com/invoice/1")
    assert door.telegram.loop is not None
    asyncio.run_coroutine_threadsafe(door.telegram.outbound.update(ref, reply), door.telegram.loop).result(30)
    sent = door.fake_telegram.to("sendMessage")[-1]
    assert "example.com/invoice/1" in sent["text"]
    assert sent["link_preview_options"]["is_disabled"] is True


def _click(door: Door, action: str, value: str, message: dict[str, Any]) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(block_actions(action, value, message=message, user=OPERATOR))})
    headers = {**probes.slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert probes.request(door.url, "/slack/events", headers, body.encode()) == 200
    door.drain()


def test_undo_from_another_conversation_is_refused(door: Door) -> None:
    # Given: an expense approved in the operator's DM, its result posted there with Undo
    card = _card(door, "expense 3.20 tea", "EvUndo1", "D0001")
    _click(door, "approve", buttons(card)["approve"], card)
    done = [
        m
        for m in door.fake_slack.to("chat.postMessage")
        if m.get("channel") == "D0001" and buttons(m).get("undo")
    ]
    assert done, "no result with Undo in the DM"
    event_id = buttons(done[-1])["undo"]
    # When: Undo is clicked from D9
    _click(door, "undo", event_id, {**card, "channel": "D9"})
    # Then: refused privately, and the effect stands
    told = [m for m in door.fake_slack.to("chat.postEphemeral") if m.get("channel") == "D9"]
    assert told and "another conversation" in told[-1]["text"]
    from memory import eventlog

    with Session(door.app.db) as s:
        assert eventlog.compensation_of(s, event_id) is None


def test_a_signed_click_whose_value_is_not_text_gets_400(door: Door) -> None:
    from urllib.parse import urlencode

    payload = block_actions("approve", "x", message={"ts": "1.0", "channel": "D0001"}, user=OPERATOR)
    payload["actions"][0]["value"] = {"id": "ap_1"}
    body = urlencode({"payload": json.dumps(payload)})
    headers = {**probes.slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert probes.request(door.url, "/slack/events", headers, body.encode()) == 400
