"""Fuzz the HTTP surfaces with generated payloads (10,000 each): Slack's /slack/events (signed and not),
Telegram's /telegram/webhook and inbound webhooks' /hooks/{name}. Never a 5xx or a crash; nothing is stored for a refused request."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from bot.server import build_server
from bot.slack.channel import SlackChannel
from bot.telegram.channel import TelegramChannel
from memory.tables import InboxItem
from tests.depth import examples
from tests.fakes.asgi_client import LoopClient
from tests.fakes.server import serve
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TG_SECRET = "fuzz-secret"
EXAMPLES = examples(10_000)

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=10,
)
slack_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "x"])
        | st.text(max_size=10)
    },
    optional={
        "event_id": st.text(max_size=20),
        "team_id": st.text(max_size=10),
        "challenge": values,
        "event": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["message", "app_mention"]) | st.text(max_size=8),
                "text": values,
                "user": values,
                "channel": values,
                "ts": values,
                "thread_ts": values,
                "subtype": values,
                "bot_id": values,
                "channel_type": values,
            },
        )
        | values,
    },
)
slack_bodies = st.one_of(
    slack_events.map(lambda d: (json.dumps(d), "application/json")),
    st.dictionaries(
        st.sampled_from(["command", "text", "user_id", "channel_id", "response_url", "payload"]),
        st.text(max_size=40),
        max_size=6,
    ).map(lambda d: (urlencode(d), "application/x-www-form-urlencoded")),
    st.builds(
        lambda p: (urlencode({"payload": json.dumps(p)}), "application/x-www-form-urlencoded"),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["block_actions", "view_submission", "shortcut"])},
            optional={"actions": values, "user": values, "container": values, "view": values},
        ),
    ),
    st.binary(max_size=200).map(lambda b: (b.decode("latin-1"), "application/json")),
)


def stored(app, channel: str) -> int:
    """Deliveries recorded on the request path (what a refused request must not add).

    Runs and the dispatcher's own records are written in the background, after an earlier accepted
    request, so they are not compared here.
    """
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(InboxItem).where(InboxItem.channel == channel)).one()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_slack_events_endpoint(app_factory):
    app = app_factory(settings={"coo_operators": ["slack:W111"], "coo_rate_per_minute": 10**9})
    fake = FakeSlack()
    with serve(fake.app()) as fake_url:
        channel = SlackChannel(app, bot_token=fake.token, signing_secret=SECRET, api_url=f"{fake_url}/api/")
        with (
            TestClient(build_server(app, [channel.mount()]), raise_server_exceptions=True) as tc,
            LoopClient(tc) as client,
        ):

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(slack_bodies, st.booleans())
            def run(body_type: tuple[str, str], sign: bool) -> None:
                body, ctype = body_type
                headers = {"content-type": ctype}
                if sign:
                    ts = str(int(time.time()))
                    headers.update(
                        {
                            "X-Slack-Request-Timestamp": ts,
                            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                                timestamp=ts, body=body
                            )
                            or "",
                        }
                    )
                before = stored(app, "slack")
                raw = body.encode("latin-1", "replace") if not sign else body.encode("utf-8", "surrogatepass")
                r = client.post("/slack/events", content=raw, headers=headers)
                assert r.status_code < 500, (r.status_code, body[:200])
                if not sign:
                    assert r.status_code == 401 and stored(app, "slack") == before
                elif r.status_code >= 400:
                    assert stored(app, "slack") == before

            run()


tg_updates = st.fixed_dictionaries(
    {"update_id": st.integers(-(2**31), 2**31) | values},
    optional={
        "message": values
        | st.fixed_dictionaries(
            {
                "message_id": st.integers(0, 10**6),
                "date": st.integers(0, 2**31),
                "chat": st.fixed_dictionaries(
                    {
                        "id": st.integers(-(10**12), 10**12),
                        "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
                    }
                ),
                "from": st.fixed_dictionaries(
                    {
                        "id": st.integers(0, 10**10),
                        "is_bot": st.booleans(),
                        "first_name": st.text(max_size=10),
                    }
                ),
            },
            optional={"text": st.text(max_size=200), "entities": values, "reply_to_message": values},
        ),
        "edited_message": values,
        "callback_query": values
        | st.fixed_dictionaries(
            {
                "id": st.text(max_size=10),
                "chat_instance": st.text(max_size=5),
                "data": st.text(max_size=70),
                "from": st.fixed_dictionaries(
                    {"id": st.integers(0, 10**10), "is_bot": st.booleans(), "first_name": st.text(max_size=5)}
                ),
            }
        ),
    },
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_telegram_webhook_endpoint(app_factory):
    app = app_factory(settings={"coo_operators": ["telegram:1"], "coo_rate_per_minute": 10**9})
    fake = FakeTelegram()
    with serve(fake.app()) as fake_url:
        channel = TelegramChannel(app, token=fake.token, base_url=f"{fake_url}/bot", webhook_secret=TG_SECRET)
        with (
            TestClient(build_server(app, [channel.mount()]), raise_server_exceptions=True) as tc,
            LoopClient(tc) as client,
        ):

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(tg_updates | values, st.booleans())
            def run(update: Any, with_secret: bool) -> None:
                headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET if with_secret else "nope"}
                before = stored(app, "telegram-updates")
                try:
                    body = json.dumps(update)
                except ValueError:
                    return
                r = client.post(
                    "/telegram/webhook", content=body, headers={**headers, "content-type": "application/json"}
                )
                assert r.status_code < 500, (r.status_code, body[:200])
                if not with_secret:
                    assert r.status_code == 403 and stored(app, "telegram-updates") == before
                elif r.status_code >= 400:
                    assert stored(app, "telegram-updates") == before

            run()


hook_bodies = st.one_of(
    values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "amount": values | st.decimals(allow_nan=False, allow_infinity=False).map(str),
            "currency": values | st.sampled_from(["EUR", "USD", "eur", ""]),
            "payer": values,
            "reference": values,
        },
    ).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=300),
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_inbound_hooks_endpoint(app_factory):
    from bot.hooks import Hooks
    from connectors.webhooks import signature_header

    secret = "fuzz-hook-secret-0123456789"
    app = app_factory(
        settings={
            "coo_hooks": {"pay": {"secret": secret, "kind": "payment"}, "note": {"secret": secret}},
            "coo_hooks_to": "test:C1",
        }
    )
    from tests.fakes.outbound import RecordingOutbound

    app.notifier.register("test", RecordingOutbound())
    hooks = Hooks(app)
    with (
        TestClient(build_server(app, [hooks.mount()]), raise_server_exceptions=True) as tc,
        LoopClient(tc) as client,
    ):

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            hook_bodies,
            st.sampled_from(["pay", "note", "nope"]),
            st.sampled_from(["good", "none", "wrong", "stale"]),
            st.none() | st.text(max_size=120),
        )
        def run(body: bytes, name: str, sig: str, delivery: str | None) -> None:
            now = int(time.time())
            headers: dict[str, str] = {"content-type": "application/json"}
            if sig != "none":
                t = now - 3600 if sig == "stale" else now
                headers["Webhook-Signature"] = signature_header(
                    secret if sig != "wrong" else "x" * 20, t, body
                )
            if delivery is not None and delivery.isprintable() and delivery.isascii():
                headers["Webhook-Id"] = delivery
            before = stored(app, "hooks")
            r = client.post(f"/hooks/{name}", content=body, headers=headers)
            assert r.status_code < 500, (r.status_code, body[:200])
            if name == "nope":
                assert r.status_code == 404
            elif sig != "good":
                assert r.status_code == 401
            if r.status_code >= 400:
                assert stored(app, "hooks") == before

        run()


# ---- the signature headers (issue 23: malformed headers were 500s) --------------------------------

HEADER_EXAMPLES = examples(3_000)
header_bytes = st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b)
header_text = (
    st.text(max_size=80).map(lambda t: t.encode("utf-8")).filter(lambda b: b"\r" not in b and b"\n" not in b)
)
digits = st.integers(-(10**20), 10**20).map(lambda n: str(n).encode()) | st.just(b"9" * 5000)
timestamps = (
    header_bytes | header_text | digits | st.sampled_from([b"1e10", b"\xd9\xa3", "²".encode(), b" 1"])
)
signatures = header_bytes | header_text | st.builds(lambda t: b"v0=" + t, header_bytes | header_text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_slack_signature_headers(app_factory):
    app = app_factory(settings={"coo_operators": ["slack:W111"]})
    fake = FakeSlack()
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})
    with serve(fake.app()) as fake_url:
        channel = SlackChannel(app, bot_token=fake.token, signing_secret=SECRET, api_url=f"{fake_url}/api/")
        with (
            TestClient(build_server(app, [channel.mount()]), raise_server_exceptions=True) as tc,
            LoopClient(tc) as client,
        ):

            @settings(max_examples=HEADER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.none() | timestamps, st.none() | signatures)
            def run(ts: bytes | None, sig: bytes | None) -> None:
                headers: dict[str, bytes] = {"content-type": b"application/json"}
                if ts is not None:
                    headers["X-Slack-Request-Timestamp"] = ts
                if sig is not None:
                    headers["X-Slack-Signature"] = sig
                r = client.post("/slack/events", content=body, headers=headers)
                assert r.status_code == 401, (r.status_code, ts, sig)

            run()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hook_signature_headers(app_factory):
    from bot.hooks import Hooks

    app = app_factory(
        settings={"coo_hooks": {"note": {"secret": "fuzz-hook-secret-0123456789"}}, "coo_hooks_to": "test:C1"}
    )
    parts = st.builds(
        lambda t, v, extra: b"t=" + t + b",v1=" + v + extra,
        timestamps,
        signatures,
        header_bytes | st.just(b""),
    )
    with (
        TestClient(build_server(app, [Hooks(app).mount()]), raise_server_exceptions=True) as tc,
        LoopClient(tc) as client,
    ):

        @settings(max_examples=HEADER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.none() | parts | header_bytes | header_text)
        def run(sig: bytes | None) -> None:
            headers: dict[str, bytes] = {"content-type": b"application/json"}
            if sig is not None:
                headers["Webhook-Signature"] = sig
            r = client.post("/hooks/note", content=b'{"text": "hi"}', headers=headers)
            assert r.status_code == 401, (r.status_code, sig)

        run()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_telegram_secret_header(app_factory):
    app = app_factory(settings={"coo_operators": ["telegram:1"]})
    fake = FakeTelegram()
    with serve(fake.app()) as fake_url:
        channel = TelegramChannel(app, token=fake.token, base_url=f"{fake_url}/bot", webhook_secret=TG_SECRET)
        with (
            TestClient(build_server(app, [channel.mount()]), raise_server_exceptions=True) as tc,
            LoopClient(tc) as client,
        ):

            @settings(max_examples=HEADER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.none() | header_bytes | header_text)
            def run(secret: bytes | None) -> None:
                headers: dict[str, bytes] = {"content-type": b"application/json"}
                if secret is not None:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = secret
                r = client.post("/telegram/webhook", content=b'{"update_id": 1}', headers=headers)
                assert r.status_code == (200 if secret == TG_SECRET.encode() else 403), (
                    r.status_code,
                    secret,
                )

            run()
