"""The slash commands Slack offers, answered by the channel-neutral `bot.commands`."""

from __future__ import annotations

from collections.abc import Callable

from bot import commands
from bot.app import App
from bot.messages import Reply
from bot.trust_view import trust

Command = Callable[[App, str, str], list[Reply]]
COMMANDS: dict[str, Command] = dict(commands.COMMANDS)


def answer(app: App, actor: str, command: str, text: str, conversation: str = "") -> Reply:
    """Run one slash command and fold its replies into one message (the image, if any, rides along).

    ``/trust set`` posts its card in ``conversation`` (the channel the command was typed in).
    """
    if command == "/trust":
        replies = trust(app, actor, text, conversation)
        if any(r.card is not None for r in replies):
            return next(r for r in replies if r.card is not None)  # the card, with its buttons
    else:
        replies = COMMANDS[command](app, actor, text)
    image = next((r.image for r in replies if r.image), None)
    name = next((r.image_name for r in replies if r.image), "chart.png")
    return Reply(text="\n\n".join(r.text for r in replies if r.text), image=image, image_name=name)
