"""Outbound email over SMTP (the standard library's smtplib), behind one small class.

``SMTP_URL`` names the server: ``smtp://user:pass@host:587`` (STARTTLS when the server offers it;
``?tls=required`` to insist), ``smtps://user:pass@host:465`` (TLS from the start). The connection
is made by an injected ``connect`` function, so tests point it at a loopback server.

Every message carries its idempotency key in its Message-ID, so a copy sent twice (a worker that
died between the server's OK and recording it) is recognisable as the same message by any receiver.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.errors import EmailRejected, EmailUnavailable

Security = Literal["opportunistic", "starttls", "ssl"]


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: Security = "opportunistic"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp://user:pass@host:port`` or ``smtps://…`` into a target.

    Raises:
        ValueError: The URL is not an SMTP URL or has no host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
    tls = parse_qs(parts.query).get("tls", [""])[0].lower()
    security: Security = (
        "ssl" if parts.scheme == "smtps" else "starttls" if tls == "required" else "opportunistic"
    )
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if security == "ssl" else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        security=security,
    )


@dataclass(frozen=True)
class Email:
    """One message to send."""

    to: str
    subject: str
    body: str
    key: str  # the idempotency key; becomes the Message-ID


def message_id(key: str, sender: str) -> str:
    """Return the Message-ID for an idempotency key: ``<key@sender's domain>``."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "coo.local"
    return f"<{key}@{domain}>"


def build_message(email: Email, sender: str) -> EmailMessage:
    """Return the MIME message for an email."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(email.key, sender)
    msg.set_content(email.body)
    return msg


Connect = Callable[[SmtpTarget, float], smtplib.SMTP]


def connect_smtp(target: SmtpTarget, timeout_s: float) -> smtplib.SMTP:
    """Open a connection (TLS from the start for ``smtps``)."""
    if target.security == "ssl":
        return smtplib.SMTP_SSL(
            target.host, target.port, timeout=timeout_s, context=ssl.create_default_context()
        )
    return smtplib.SMTP(target.host, target.port, timeout=timeout_s)


class Mailer:
    """Sends email through one SMTP server."""

    def __init__(
        self, target: SmtpTarget, sender: str, *, connect: Connect = connect_smtp, timeout_s: float = 30.0
    ) -> None:
        self.target = target
        self.sender = sender
        self._connect = connect
        self.timeout_s = timeout_s

    def send(self, email: Email) -> str:
        """Send one email; return its Message-ID.

        Raises:
            EmailRejected: The server refused it for good (a bad address, our login): do not retry.
            EmailUnavailable: No connection, a timeout or a temporary refusal: try again later.
        """
        msg = build_message(email, self.sender)
        try:
            with self._connect(self.target, self.timeout_s) as smtp:
                smtp.ehlo()
                if self.target.security != "ssl" and (
                    self.target.security == "starttls" or smtp.has_extn("starttls")
                ):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.target.username:
                    smtp.login(self.target.username, self.target.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            cls = EmailUnavailable if all(400 <= c < 500 for c in codes) else EmailRejected
            raise cls(f"The mail server refused the recipient {email.to}.") from None
        except smtplib.SMTPResponseException as exc:
            what = (
                "refused the login"
                if isinstance(exc, smtplib.SMTPAuthenticationError)
                else "refused the message"
            )
            cls = EmailUnavailable if 400 <= exc.smtp_code < 500 else EmailRejected
            raise cls(f"The mail server {what} ({exc.smtp_code}).") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailUnavailable(
                f"Could not reach the mail server at {self.target.host}:{self.target.port} ({type(exc).__name__})."
            ) from None
        return str(msg["Message-ID"])
