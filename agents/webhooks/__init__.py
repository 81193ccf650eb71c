"""The webhooks agent: POST a JSON payload to a configured webhook target, after approval.

A POST cannot be taken back, so ``webhooks.post`` is irreversible: it always asks, and auto-approval
never covers it. Only targets named in ``COO_WEBHOOKS`` exist: the policy denies any other target
(a URL the model or a payload made up), and ``execute`` refuses one too, in case a policy was built
without that check. Once approved, the POST is not made here: a job is queued in the executor's
transaction under the action's idempotency key (see ``graph/webhook_job.py``), which sends it with
that key as its ``Idempotency-Key`` and retries with backoff until it lands or becomes a dead letter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from agents.contract import ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.errors import Refusal
from agents.jobkind import Retry
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from agents.webhooks.job import POST_KIND, PostArgs, post_webhook_kind
from memory import jobs

AGENT = "webhooks"


@dataclass(frozen=True)
class WebhooksConfig:
    """What outbound webhooks may do.

    Attributes:
        targets: The configured target names (their URLs and secrets stay in bot/).
        retries: Tries after the first before a delivery becomes a dead letter.
        backoff_s: The wait before the first retry (it doubles per attempt).
        sender: Makes the sender for one attempt of the post job (its secrets stay in it); None: the
            job fails with a plain reason.
    """

    targets: frozenset[str] = frozenset()
    retries: int = 5
    backoff_s: float = 30.0
    sender: Callable[[], Any] | None = None

    @property
    def retry(self) -> Retry:
        """Return the post job's retries (its kind is built with them and ``post`` enqueues with them)."""
        return Retry(self.retries, self.backoff_s)


def operations(config: WebhooksConfig) -> list[Operation[Any]]:
    """Return the webhooks operations for a configuration."""

    def check(_s: Session, args: PostArgs) -> None:
        if args.target not in config.targets:
            shown = args.target if len(args.target) <= 60 else args.target[:57] + "..."
            listed = ", ".join(sorted(config.targets)) or "none"
            raise Refusal(
                f"there is no webhook target {shown!r} (configured: {listed}; name targets in COO_WEBHOOKS)"
            )

    def post(ctx: ExecContext, args: PostArgs) -> Outcome:
        check(ctx.session, args)
        job = jobs.enqueue(
            ctx.session,
            kind=POST_KIND,
            key=ctx.idempotency_key,
            args=args.model_dump(mode="json"),
            conversation=ctx.conversation,
            max_attempts=config.retry.max_attempts,
        )
        return Outcome(
            text=f"Webhook to {args.target} queued (job {job.id}); it is sent once and cannot be undone.",
            payload={"job_id": job.id, "target": args.target},
        )

    return [
        Operation(
            agent=AGENT,
            name="post",
            description="POST a JSON object to a configured webhook target (signed; cannot be undone).",
            args=PostArgs,
            side_effect=SideEffect.IRREVERSIBLE,
            summarize=lambda a: f"POST a webhook to {a.target}",
            changes=lambda a: (
                f"Webhook: one signed POST of {len(a.payload)} field(s) to the target {a.target}, "
                "retried until it is accepted; it cannot be undone"
            ),
            execute=post,
            precheck=check,
        )
    ]


NOT_SET_UP = (
    'No webhook targets are set up: name them in COO_WEBHOOKS, e.g. {"crm": {"url": "https://…", "secret": "…"}}.'
)


def _webhook(m: re.Match[str]) -> RawProposal:
    try:
        payload: Any = json.loads(m["json"])
    except ValueError:
        payload = m["json"]  # not JSON: the schema refuses it with a clear reason
    return RawProposal("webhooks.post", {"target": m["target"], "payload": payload})


RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^webhook\s+(?P<target>\S+)\s+(?P<json>\{.*\})\s*$", re.I | re.S), _webhook),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "webhook <target> <json>",
        "POST a JSON object to a configured target (asks first)",
        ('webhook crm {"a": 1}',),
    ),
)


def spec(deps: Deps, config: WebhooksConfig | None = None) -> AgentSpec:
    """Return the webhooks agent (not set up without targets in COO_WEBHOOKS)."""
    retry = (config or WebhooksConfig()).retry
    return AgentSpec(
        name=AGENT,
        operations=tuple(operations(config)) if config is not None else (),
        jobs=(
            post_webhook_kind(
                config.sender if config else None, retries=retry.max_retries, backoff_s=retry.backoff_s
            ),
        ),
        enqueues=(POST_KIND,),
        rules=RULES,
        help=HELP,
        not_set_up=None if config is not None else NOT_SET_UP,
    )
