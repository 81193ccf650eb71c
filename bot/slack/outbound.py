"""Posting to Slack: the dispatcher's `Outbound` over slack_sdk's AsyncWebClient."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import Reply
from bot.slack import blocks
from bot.slack.inbound import parse_conversation

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
_GONE = {"message_not_found", "cant_update_message"}


def web_client(token: str, base_url: str | None = None, rate_limit_retries: int = 3) -> AsyncWebClient:
    """Return the Web API client: SLACK_API_URL honoured, 429s retried after their Retry-After."""
    return AsyncWebClient(
        token=token,
        base_url=base_url or SLACK_API_URL,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)],
    )


class SlackOutbound:
    """Posts replies into a conversation's thread and updates posted messages in place."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        """Post a reply (split over several messages when long); return the last message's ref.

        The last message carries the buttons, so it is the one a later update replaces.
        """
        channel, thread_ts = parse_conversation(conversation)
        ref: dict[str, Any] = {}
        for msg in blocks.messages(reply):
            resp = await self.client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=msg.text,
                blocks=msg.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            ref = {"channel": resp["channel"], "ts": resp["ts"], "thread_ts": thread_ts}
        return ref

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        """Replace a posted message (a card after its decision, an Undo message after undo).

        If the message is gone (deleted in Slack), the reply is posted in its thread instead.
        """
        msg = blocks.single(reply)
        try:
            await self.client.chat_update(
                channel=ref["channel"], ts=ref["ts"], text=msg.text, blocks=msg.blocks
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in _GONE:
                raise
            log.info("slack: message %s is gone (%s); posting instead", ref["ts"], exc.response.get("error"))
            await self.client.chat_postMessage(
                channel=ref["channel"],
                thread_ts=ref.get("thread_ts"),
                text=msg.text,
                blocks=msg.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )

    async def ephemeral(self, conversation: str, user_id: str, reply: Reply) -> None:
        """Show a reply to one user only (refusals, stale-card notices)."""
        channel, thread_ts = parse_conversation(conversation)
        msg = blocks.single(reply)
        await self.client.chat_postEphemeral(
            channel=channel, user=user_id, thread_ts=thread_ts, text=msg.text, blocks=msg.blocks
        )
