"""Scenario: Socket Mode over a loopback WebSocket speaking Slack's envelope protocol (no public URL)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from bot.server import build_server
from bot.slack.channel import SlackChannel
from tests.bot.slack.harness import FIXTURES, OPS, block_actions, buttons, dm_event, fake_slack, text_of
from tests.fakes.server import serve, wait_for


def drain(channel: SlackChannel) -> None:
    assert channel.loop is not None
    asyncio.run_coroutine_threadsafe(channel.drain(), channel.loop).result(timeout=60)


def test_socket_mode_events_clicks_and_commands(app_factory):
    app = app_factory(settings=OPS)
    with fake_slack() as (fake, url):
        # No signing secret and no /slack/events route: only the app token.
        channel = SlackChannel(
            app, bot_token=fake.token, signing_secret=None, app_token=fake.app_token, api_url=f"{url}/api/"
        )
        server = build_server(app, [channel.mount()])
        assert "/slack/events" not in [getattr(r, "path", "") for r in server.routes]
        with serve(server, lifespan="on"):
            wait_for(lambda: fake.socket_connected, what="Socket Mode connection")

            # An event envelope is acknowledged by envelope id, and the card goes to the thread.
            event = dm_event("expense 9 stamps")
            envelope = fake.push("events_api", event)
            wait_for(lambda: any(a.get("envelope_id") == envelope for a in fake.socket_acks), what="ack")
            drain(channel)
            [card] = fake.to("chat.postMessage")
            assert card["thread_ts"] == event["event"]["ts"]

            # Slack redelivers the envelope (retry_attempt 1): acknowledged, nothing posted again.
            again = fake.push("events_api", event, retry_attempt=1)
            wait_for(lambda: any(a.get("envelope_id") == again for a in fake.socket_acks), what="retry ack")
            drain(channel)
            assert len(fake.to("chat.postMessage")) == 1

            # A click arrives as an interactive envelope.
            [(_, ts)] = list(fake.messages)
            posted = {**card, "ts": ts}
            fake.push("interactive", block_actions("approve", buttons(card)["approve"], message=posted))
            wait_for(lambda: len(fake.to("chat.update")) == 1, what="card update")
            drain(channel)
            assert text_of(fake.to("chat.update")[0]).startswith("Approved by slack:W111")

            # A slash command arrives as a slash_commands envelope; the answer goes to its response_url.
            form = dict(parse_qsl((FIXTURES / "slack_slash_command.txt").read_text().strip()))
            form.update({"command": "/status", "response_url": f"{url}/response/sock"})
            fake.push("slash_commands", form)
            wait_for(lambda: fake.to("response_url:sock"), what="/status answer")
            assert "Pending approvals: 0" in fake.to("response_url:sock")[0]["text"]
        wait_for(lambda: not fake.socket_connected, what="shutdown to close the connection")
