"""`coo serve` picks Slack up from settings: HTTP mode with a signing secret, Socket Mode with an app token."""

from __future__ import annotations

import httpx

from bot.server import build_server, configured_mounts
from tests.bot.slack.harness import SECRET, fake_slack
from tests.fakes.server import serve


def paths(mount) -> list[str]:
    return [r.path for r in mount.routes]


def test_not_configured_means_no_slack(app_factory):
    assert [m.name for m in configured_mounts(app_factory())] == []
    assert [m.name for m in configured_mounts(app_factory(settings={"slack_bot_token": "xoxb-1"}))] == []


def test_http_mode_from_settings_serves_events_and_reports_health(app_factory):
    with fake_slack() as (fake, url):
        app = app_factory(
            settings={
                "slack_bot_token": fake.token,
                "slack_signing_secret": SECRET,
                "slack_api_url": f"{url}/api/",
            }
        )
        [mount] = configured_mounts(app)
        assert mount.name == "slack" and paths(mount) == ["/slack/events"]
        with serve(build_server(app, [mount]), lifespan="on") as base:
            health = httpx.get(f"{base}/healthz").json()
            assert health["slack"] == {"ok": True, "mode": "http", "inbox_backlog": 0, "outbox_backlog": 0}
            assert httpx.post(f"{base}/slack/events", content=b"{}").status_code == 401


def test_socket_mode_from_settings_has_no_http_route(app_factory):
    app = app_factory(settings={"slack_bot_token": "xoxb-1", "slack_app_token": "xapp-1"})
    [mount] = configured_mounts(app)
    assert mount.name == "slack" and paths(mount) == []
