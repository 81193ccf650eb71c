"""Wire outbound webhooks from settings: the targets, the agent's config, the job kind, the policy check.

Secrets stay here and in the job's sender: the agent, the action and the job row know only the
target's name, so nothing stored or shown carries a URL's secret.
"""

from __future__ import annotations

import httpx

from agents.webhooks import WebhooksConfig
from agents.webhooks.job import post_webhook_kind
from bot.settings import Settings
from connectors.webhooks import WebhookSender, WebhookTarget
from graph.jobs.kinds import JobKind

TIMEOUT_S = 10.0


def targets(settings: Settings) -> dict[str, WebhookTarget]:
    """Return the outbound targets configured in COO_WEBHOOKS."""
    return {
        name: WebhookTarget(name=name, url=t.url, secret=t.secret.get_secret_value())
        for name, t in settings.coo_webhooks.items()
    }


def webhooks_config(settings: Settings) -> WebhooksConfig | None:
    """Return what the webhooks agent may do; None when no target is configured (no tool is offered)."""
    if not settings.coo_webhooks:
        return None
    return WebhooksConfig(targets=frozenset(settings.coo_webhooks), retries=settings.coo_webhook_retries)


def webhook_kind(settings: Settings, transport: httpx.BaseTransport | None = None) -> JobKind:
    """Return the job kind that posts approved webhooks (each attempt on a fresh client, closed after)."""
    configured = targets(settings)

    def sender() -> WebhookSender:
        client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, transport=transport)
        return WebhookSender(client, configured)

    return post_webhook_kind(
        sender if configured else None,
        retries=settings.coo_webhook_retries,
        backoff_s=settings.coo_webhook_backoff_s,
    )
