"""Wire outbound webhooks from settings: the targets and the agent's config (its job is built by its spec).

Secrets stay here and in the job's sender: the agent, the action and the job row know only the
target's name, so nothing stored or shown carries a URL's secret.
"""

from __future__ import annotations

import httpx

from agents.webhooks import WebhooksConfig
from bot.settings import Settings
from connectors.webhooks import WebhookSender, WebhookTarget

TIMEOUT_S = 10.0


def targets(settings: Settings) -> dict[str, WebhookTarget]:
    """Return the outbound targets configured in COO_WEBHOOKS."""
    return {
        name: WebhookTarget(name=name, url=t.url, secret=t.secret.get_secret_value())
        for name, t in settings.coo_webhooks.items()
    }


def webhooks_config(
    settings: Settings, transport: httpx.BaseTransport | None = None
) -> WebhooksConfig | None:
    """Return what the webhooks agent may do; None when no target is configured (no tool is offered).

    Its sender makes a fresh client per attempt of the post job (closed after), holding the targets'
    URLs and secrets; nothing else sees them.
    """
    if not settings.coo_webhooks:
        return None
    configured = targets(settings)

    def sender() -> WebhookSender:
        client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, transport=transport)
        return WebhookSender(client, configured)

    return WebhooksConfig(
        targets=frozenset(settings.coo_webhooks),
        retries=settings.coo_webhook_retries,
        backoff_s=settings.coo_webhook_backoff_s,
        sender=sender,
    )
