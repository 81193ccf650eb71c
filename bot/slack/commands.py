"""The slash commands Slack offers, answered by the channel-neutral `bot.commands`."""

from __future__ import annotations

from collections.abc import Callable

from bot import commands
from bot.app import App
from bot.messages import Reply

Command = Callable[[App, str, str], list[Reply]]
COMMANDS: dict[str, Command] = dict(commands.COMMANDS)


def answer(app: App, actor: str, command: str, text: str) -> Reply:
    """Run one slash command and fold its replies into one message (the image, if any, rides along)."""
    replies = COMMANDS[command](app, actor, text)
    image = next((r.image for r in replies if r.image), None)
    name = next((r.image_name for r in replies if r.image), "chart.png")
    return Reply(text="\n\n".join(r.text for r in replies if r.text), image=image, image_name=name)
