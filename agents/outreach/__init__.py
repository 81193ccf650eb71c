"""The outreach agent: outbound email, sent after an undo window.

Sending an email cannot be taken back, so it always needs approval. Once approved, it is not sent:
it is scheduled as a delayed job (``run_at`` = now + the undo window), in the same transaction as the
event that records it. Until the window closes, Undo cancels the job (a conditional UPDATE that only
succeeds while the job has not started); after that, Undo says it is too late and changes nothing.
The job itself is run by the ``outreach.send_email`` actor (see ``agents/outreach/send.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlmodel import Session

from agents.contract import ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.errors import NotReversible, Refusal
from agents.jobkind import Retry
from agents.outreach.recipients import recipient_check
from agents.outreach.send import SEND_KIND, SEND_RETRY, EmailArgs, send_email_kind
from agents.phrasings import Phrasing, phrasing
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from connectors.email import Mailer
from memory import jobs
from memory.job_tables import Job
from memory.tables import utcnow

AGENT = "outreach"
NOT_SET_UP = "email is not set up (set SMTP_URL and COO_EMAIL_FROM, then restart)"


@dataclass(frozen=True)
class OutreachConfig:
    """How outbound email behaves.

    Attributes:
        undo_window_s: How long an approved email waits, cancellable, before it is sent.
        email_ready: Whether a mail server and a sender are configured.
        tz: The operator's time zone, for the times shown.
        clock: The time (tests may control it).
        mailer: The SMTP mailer the send job uses (None: the job fails with a plain reason).
        retry: The send job's retries.
    """

    undo_window_s: float = 60.0
    email_ready: bool = False
    tz: tzinfo = UTC
    clock: Callable[[], datetime] = utcnow
    mailer: Mailer | None = None
    retry: Retry = SEND_RETRY


def _clock_text(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%H:%M:%S %Z").strip()


def operations(config: OutreachConfig) -> list[Operation[Any]]:
    """Return the outreach operations for a configuration."""
    window = timedelta(seconds=config.undo_window_s)

    def check(_s: Session, _args: EmailArgs) -> None:
        if not config.email_ready:
            raise Refusal(NOT_SET_UP)

    def send(ctx: ExecContext, args: EmailArgs) -> Outcome:
        check(ctx.session, args)
        send_at = config.clock() + window
        job = jobs.enqueue(
            ctx.session,
            kind=SEND_KIND,
            key=ctx.idempotency_key,
            args=args.model_dump(),
            conversation=ctx.conversation,
            run_at=send_at,
            max_attempts=config.retry.max_attempts,
        )
        when = _clock_text(send_at, config.tz)
        return Outcome(
            text=f"Email to {args.to} scheduled: sending at {when} — Undo until then.",
            payload={
                "job_id": job.id,
                "to": args.to,
                "subject": args.subject,
                "send_at": send_at.isoformat(),
            },
            compensation={"job_id": job.id, "to": args.to, "undo_until": send_at.isoformat()},
        )

    def cancel(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        until = datetime.fromisoformat(payload["undo_until"])
        now = config.clock()
        if now < until and jobs.cancel(ctx.session, payload["job_id"], now):
            return Outcome(text=f"Cancelled the email to {payload['to']}; it was not sent.", payload=payload)
        raise NotReversible(
            _too_late(ctx.session.get(Job, payload["job_id"]), payload["to"], until, config.tz)
        )

    return [
        Operation(
            agent=AGENT,
            name="send_email",
            description="Send a plain-text email (it waits a short undo window before it goes out).",
            args=EmailArgs,
            side_effect=SideEffect.IRREVERSIBLE,
            summarize=lambda a: (
                f"Send an email to {a.to}: {a.subject!r}" + (f" (draft #{a.draft_id})" if a.draft_id else "")
            ),
            changes=lambda a: (
                f"Email: one message to {a.to}, sent {config.undo_window_s:g} s after approval; "
                "Undo cancels it until then, never after"
            ),
            execute=send,
            compensate=cancel,
            precheck=check,
        )
    ]


def _too_late(job: Job | None, to: str, until: datetime, tz: tzinfo) -> str:
    if job is not None and job.status == "done" and job.finished_at is not None:
        return f"Too late: the email to {to} was sent at {_clock_text(job.finished_at, tz)}; it can no longer be undone."
    if job is not None and job.status == "dead":
        return f"The email to {to} was not sent (it failed: {job.last_error}); there is nothing to undo."
    if job is not None and job.status == "cancelled":
        return f"The email to {to} was already cancelled."
    return f"Too late: the undo window closed at {_clock_text(until, tz)}; the email to {to} is being sent."


RULES: tuple[Rule, ...] = (
    Rule(
        re.compile(r"^email\s+(?P<to>\S+@\S+)\s+(?P<subject>[^:]+):\s*(?P<body>.*)$", re.I | re.S),
        lambda m: RawProposal(
            "outreach.send_email", {"to": m["to"], "subject": m["subject"].strip(), "body": m["body"].strip()}
        ),
    ),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "email <address> <subject>: <body>",
        "send an email (asks first; Undo until it goes out)",
        ("email dana@example.org Invoice: attached",),
    ),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "outreach.send_email",
        "email {email} {subject}: {body}",
        "write",
        (
            "send an email to jordan@example.org saying hello",
            "write to alex@acme.com about the invoice",
            "mail bob@example.com: see you tomorrow",
            "email chris@example.net that the report is ready",
        ),
        words="email mail",
    ),
)


def spec(deps: Deps, config: OutreachConfig | None = None) -> AgentSpec:
    """Return the outreach agent (no operations without its config: email sending is set up in bot/)."""
    ops = tuple(operations(config)) if config is not None else ()
    config = config or OutreachConfig(tz=deps.tz)
    return AgentSpec(
        name=AGENT,
        operations=ops,
        jobs=(send_email_kind(config.mailer, config.tz, retry=config.retry),),
        # an unknown recipient is asked about, or denied if the run read untrusted content
        checks=(recipient_check(deps.db),) if deps.db is not None else (),
        enqueues=(SEND_KIND,),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
    )
