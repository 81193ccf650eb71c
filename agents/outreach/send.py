"""The outreach agent's job: send an approved email once its undo window has closed, and record it."""

from __future__ import annotations

import logging
import re
from datetime import tzinfo

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from agents import drafts
from agents.crm.schemas import EMAIL
from agents.joberrors import JobFailed
from agents.jobkind import JobContext, JobKind, JobResult, Retry
from connectors.email import Email, Mailer
from connectors.errors import EmailError
from memory import crm, eventlog
from memory.db import transaction
from memory.job_tables import Job

log = logging.getLogger(__name__)

SEND_KIND = "outreach.send_email"
SEND_RETRIES = 3  # a mail server that is down for a while gets four tries in all
SEND_RETRY = Retry(max_retries=SEND_RETRIES, backoff_s=30.0)
"""The send job's retries: its kind is built with them and ``send_email`` enqueues with them."""


class EmailArgs(BaseModel):
    """Arguments of an outbound email."""

    to: str = Field(max_length=254, description="Recipient address, e.g. dana@example.org")
    subject: str = Field(min_length=1, max_length=200, description="Subject line")
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text body")
    draft_id: int | None = Field(
        default=None, ge=1, description="The draft this sends, marked sent once it goes out (else omit)"
    )

    @field_validator("to")
    @classmethod
    def _address(cls, value: str) -> str:
        if not re.fullmatch(EMAIL, value):
            raise ValueError(f"{value[:80]!r} is not an email address (like dana@example.org)")
        return value

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("the subject must be one line")
        return value


def _effect_message(session: Session, job: Job) -> str | None:
    """Return the chat message of the action that scheduled the job (its Done message, with Undo)."""
    ev = eventlog.by_key(session, job.key)
    return f"event:{ev.id}" if ev is not None else f"job:{job.id}"


def record_sent(ctx: JobContext, args: EmailArgs) -> None:
    """After an email went out: log it in the recipient's CRM activity and mark its draft sent, once.

    Both are keyed by the job's key, so a job that runs again (a worker that died after the server's
    OK) writes nothing twice; a race between two attempts loses to the unique key and is ignored.
    """
    try:
        with transaction(ctx.db) as s:
            crm.log_email_sent(s, to=args.to, subject=args.subject, key=ctx.key)
            if args.draft_id is not None:
                drafts.mark_sent(s, args.draft_id, to=args.to, subject=args.subject, body=args.body)
    except IntegrityError:
        log.info("job %s: the sent email was already recorded by another attempt", ctx.job.id)
    except SQLAlchemyError:
        # The email is out: failing the job now would send it again. The record is lost, loudly.
        log.exception("job %s: sent, but could not record it in the CRM or mark its draft", ctx.job.id)


def send_email_kind(mailer: Mailer | None, tz: tzinfo, *, retry: Retry = SEND_RETRY) -> JobKind:
    """Return the job kind that sends an approved email once its undo window has closed."""

    def run(ctx: JobContext) -> JobResult:
        args = EmailArgs.model_validate(ctx.args)
        if mailer is None:
            raise JobFailed("email is not set up (set SMTP_URL and COO_EMAIL_FROM)", retry=False)
        ctx.progress.update(f"Sending the email to {args.to}…")
        try:
            message_id = mailer.send(Email(args.to, args.subject, args.body, key=ctx.key))
        except EmailError as exc:
            raise JobFailed(str(exc), retry=not exc.permanent) from None
        record_sent(ctx, args)
        at = ctx.now().astimezone(tz).strftime("%H:%M:%S %Z").strip()
        return JobResult(
            text=f"Sent the email to {args.to} at {at}. It can no longer be undone.",
            data={"message_id": message_id, "sent_at": ctx.now().isoformat()},
        )

    return JobKind(
        name=SEND_KIND,
        run=run,
        title="sending the email",
        time_limit_s=120.0,
        **retry.options(),
        message_key=_effect_message,
    )
