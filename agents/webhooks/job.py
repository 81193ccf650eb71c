"""The job that delivers an approved outbound webhook, retried with backoff, dead-lettered after N.

The job's key is the action's idempotency key, sent as the ``Idempotency-Key`` header on every try,
so a receiver sees one logical delivery however many times a worker had to try (a worker that died
between the receiver's 200 and recording it sends the same key again). A receiver's ``Retry-After``
stretches the wait before the next try; a final refusal (a 4xx) dead-letters the job at once and the
chat gets the error with a Retry button.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, field_validator

from agents.joberrors import JobFailed
from agents.jobkind import JobContext, JobKind, JobResult
from connectors.errors import WebhookError
from connectors.webhooks import WebhookSender

POST_KIND = "webhooks.post"
MAX_PAYLOAD_BYTES = 64_000


class PostArgs(BaseModel):
    """Arguments of an outbound webhook."""

    target: str = Field(
        min_length=1, max_length=200, description="The name of a configured webhook target, e.g. crm"
    )
    payload: dict[str, Any] = Field(description="The JSON object to POST")

    @field_validator("payload")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"the payload is {size:,} bytes; at most {MAX_PAYLOAD_BYTES:,}")
        return value


SenderFactory = Callable[[], WebhookSender]


def post_webhook_kind(sender: SenderFactory | None, *, retries: int = 5, backoff_s: float = 30.0) -> JobKind:
    """Return the job kind that POSTs an approved webhook.

    Args:
        sender: Makes the sender for one attempt (a fresh ``httpx.Client`` each time, closed after);
            None when no target is configured.
        retries: Tries after the first before the job becomes a dead letter.
        backoff_s: The wait before the first retry (it doubles per attempt).
    """

    def run(ctx: JobContext) -> JobResult:
        args = PostArgs.model_validate(ctx.args)
        if sender is None:
            raise JobFailed("webhooks are not set up (set COO_WEBHOOKS)", retry=False)
        ctx.progress.update(f"Posting the webhook to {args.target}…")
        s = sender()
        try:
            delivered = s.send(args.target, args.payload, ctx.key)
        except WebhookError as exc:
            raise JobFailed(str(exc), retry=not exc.permanent, retry_after_s=exc.retry_after_s) from None
        finally:
            s.client.close()
        return JobResult(
            text=f"Webhook delivered to {args.target} ({delivered.status}) on attempt {ctx.job.attempt}.",
            data={"status": delivered.status, "target": args.target, "sent_at": ctx.now().isoformat()},
        )

    return JobKind(
        name=POST_KIND,
        run=run,
        title="posting the webhook",
        time_limit_s=60.0,
        max_retries=retries,
        backoff_s=backoff_s,
    )
