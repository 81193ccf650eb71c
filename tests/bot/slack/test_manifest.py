"""`coo slack-manifest`: one paste creates an app whose URLs, events and commands match what coo serves."""

from __future__ import annotations

import json

from bot.cli import main
from bot.slack.commands import COMMANDS

# Each bot event needs its scope, or Slack refuses the manifest.
EVENT_SCOPES = {"app_mention": "app_mentions:read", "message.im": "im:history"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["slack-manifest", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_http_manifest_points_everything_at_slack_events(capsys):
    code, out, _ = run(capsys, "--url", "https://coo.example.com/")
    assert code == 0
    m = json.loads(out)
    endpoint = "https://coo.example.com/slack/events"
    settings = m["settings"]
    assert settings["event_subscriptions"]["request_url"] == endpoint
    assert settings["interactivity"] == {"is_enabled": True, "request_url": endpoint}
    assert settings["socket_mode_enabled"] is False
    assert {c["command"]: c["url"] for c in m["features"]["slash_commands"]} == dict.fromkeys(
        COMMANDS, endpoint
    )
    events = settings["event_subscriptions"]["bot_events"]
    scopes = m["oauth_config"]["scopes"]["bot"]
    assert set(events) == set(EVENT_SCOPES)
    assert {EVENT_SCOPES[e] for e in events} | {"chat:write", "commands"} <= set(scopes)
    assert m["features"]["app_home"]["messages_tab_enabled"] is True  # users can DM the bot


def test_socket_mode_manifest_has_no_urls(capsys):
    code, out, _ = run(capsys, "--socket-mode")
    assert code == 0
    m = json.loads(out)
    assert m["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in m["settings"]["event_subscriptions"]
    assert all("url" not in c for c in m["features"]["slash_commands"])


def test_http_manifest_needs_an_https_url(capsys):
    code, out, err = run(capsys, "--url", "http://insecure.example.com")
    assert code == 2 and out == "" and "https://" in err
