"""The Slack app manifest: paste it at api.slack.com/apps → Create New App → From a manifest."""

from __future__ import annotations

from typing import Any

from bot.slack.commands import COMMANDS

EVENTS_PATH = "/slack/events"
BOT_SCOPES = [
    "app_mentions:read",  # app_mention events in channels
    "channels:history",  # messages in public channels the bot is in
    "chat:write",  # replies, cards, in-place updates, ephemeral refusals
    "commands",  # /status, /budget
    "files:write",  # long reports as files
    "groups:history",  # messages in private channels the bot is in
    "im:history",  # message.im: DMs to the bot
    "im:write",  # open a DM (digests)
]
BOT_EVENTS = ["app_mention", "message.im"]
_DESCRIPTIONS = {
    "/status": "Runs in flight, pending approvals, recent failures",
    "/budget": "Model spend today and this month against the limits",
    "/trust": "What may run without asking, and the numbers behind it",
    "/runs": "Recent runs with status, cost and duration",
}


def manifest(url: str | None, *, name: str = "coo", socket_mode: bool = False) -> dict[str, Any]:
    """Return the app manifest.

    Args:
        url: The public base URL of `coo serve` (``https://…``); Slack posts to ``<url>/slack/events``.
            Not needed in Socket Mode.
        name: The app's and the bot user's name.
        socket_mode: Receive events over Socket Mode (needs SLACK_APP_TOKEN, no public URL).

    Raises:
        ValueError: HTTP mode without an https URL.
    """
    endpoint = None
    if not socket_mode:
        if not url or not url.startswith("https://"):
            raise ValueError("Slack needs a public https:// URL (or use Socket Mode)")
        endpoint = url.rstrip("/") + EVENTS_PATH
    commands = []
    for command in COMMANDS:
        entry: dict[str, Any] = {
            "command": command,
            "description": _DESCRIPTIONS.get(command) or (COMMANDS[command].__doc__ or command).splitlines()[0],
            "should_escape": False,
        }
        if endpoint:
            entry["url"] = endpoint
        commands.append(entry)
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if endpoint:
        events["request_url"] = endpoint
        interactivity["request_url"] = endpoint
    return {
        "display_information": {
            "name": name,
            "description": "The AI COO: asks before it acts, and can undo.",
            "background_color": "#2c2d30",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
