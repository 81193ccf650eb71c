"""The Slack channel (slack-bolt). `mount(app)` is what `coo serve` calls; see `bot.slack.channel`.

Importing this package does not import slack_bolt, so `coo slack-manifest` works without the extra;
`mount` imports it only when Slack is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App
    from bot.dispatch import Outbound
    from bot.server import Mount


def mount(app: App) -> Mount | None:
    """Return the Slack mount for `coo serve`, or None when SLACK_BOT_TOKEN (and a secret) are not set."""
    s = app.settings
    if s.slack_bot_token is None or (s.slack_signing_secret is None and s.slack_app_token is None):
        return None
    from bot.slack.channel import SlackChannel

    return SlackChannel.from_settings(app).mount()


def outbound(app: App) -> Outbound | None:
    """Return an outbound for processes that post to Slack without serving it (`coo worker`, the CLI)."""
    token = app.settings.slack_bot_token
    if token is None:
        return None
    from bot.slack.outbound import SlackOutbound, web_client

    return SlackOutbound(web_client(token.get_secret_value(), app.settings.slack_api_url))
