"""Errors raised by connectors.

ConnectorError (base; the message is safe to show the operator; ``connector`` names which)
 ├── EmailError          sending mail failed; ``permanent`` says whether trying again can help
 │    ├── EmailRejected      the server refused the message, a recipient or our login (5xx)
 │    └── EmailUnavailable   no connection, a timeout, or a temporary refusal (4xx)
 ├── CalendarError       reading or writing a calendar (ICS feed, CalDAV) failed
 │    ├── CalendarUnavailable  no connection, a timeout, a refused login or an HTTP error
 │    ├── CalendarInvalid      the feed is not iCalendar, or the named calendar does not exist
 │    └── CalendarReadOnly     the calendar cannot take new events (an ICS feed)
 ├── WebhookError        delivering an outbound webhook failed; ``permanent``, ``status``, ``retry_after_s``
 │    ├── WebhookRejected    the receiver refused it for good (4xx but 408/429), or no such target
 │    └── WebhookUnavailable no connection, a timeout, 408, 429 or 5xx
 ├── SignatureInvalid    an inbound webhook's signature is missing, wrong or stale (``reason``)
 └── WebError            fetching a page failed; ``url`` names it, ``permanent`` as above
      ├── UrlRefused         not http(s), a private/loopback address, too many redirects (never sent)
      ├── ContentRefused     the server answered with a content type we do not read (binary, ...)
      ├── FetchFailed        the server answered with an error status (4xx permanent, 5xx not)
      └── FetchUnavailable   no connection, no DNS answer, or a timeout
"""


class ConnectorError(Exception):
    """Base class for connector errors (the message is safe to show the operator)."""

    connector = "connector"

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class EmailError(ConnectorError):
    """Sending an email failed.

    Attributes:
        permanent: True when the same message would fail again (do not retry).
    """

    connector = "email"
    permanent = False


class EmailRejected(EmailError):
    """The mail server refused the message, a recipient or the login."""

    permanent = True


class EmailUnavailable(EmailError):
    """The mail server could not be reached, timed out, or refused for now."""


class CalendarError(ConnectorError):
    """Reading or writing a calendar failed."""

    connector = "calendar"


class CalendarUnavailable(CalendarError):
    """The calendar could not be reached, refused our login, or answered with an error."""


class CalendarInvalid(CalendarError):
    """The feed is not iCalendar, or the named calendar does not exist."""


class CalendarReadOnly(CalendarError):
    """The calendar cannot take new events (an ICS feed is read-only)."""


class WebhookError(ConnectorError):
    """Delivering an outbound webhook failed.

    Attributes:
        permanent: True when the same delivery would fail again (do not retry).
        status: The receiver's HTTP status (None: no answer).
        retry_after_s: How long the receiver asked us to wait (its ``Retry-After``), if it said.
    """

    connector = "webhooks"
    permanent = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class WebhookRejected(WebhookError):
    """The receiver refused the delivery for good (a 4xx other than 408 and 429), or it is not configured."""

    permanent = True


class WebhookUnavailable(WebhookError):
    """No connection, a timeout, a 408/429 or a 5xx: try again later (after ``retry_after_s`` if set)."""


class SignatureInvalid(ConnectorError):
    """An inbound webhook's signature is missing, malformed, wrong or too old (answer 401).

    Attributes:
        reason: What was wrong, for the log (never the secret or the expected signature).
    """

    connector = "webhooks"

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook signature refused: {reason}")
        self.reason = reason


class WebError(ConnectorError):
    """Fetching a web page failed.

    Attributes:
        url: The URL that failed (the redirect hop, when it was one).
        permanent: True when the same fetch would fail again (do not retry).
    """

    connector = "web"
    permanent = True

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class UrlRefused(WebError):
    """The URL is not one we fetch: its scheme, its address (private, loopback...), or its redirects."""


class ContentRefused(WebError):
    """The server answered with a content type that is not text/html or text/plain."""


class FetchFailed(WebError):
    """The server answered with an error status.

    Attributes:
        status: The HTTP status code.
    """

    def __init__(self, message: str, *, url: str = "", status: int = 0) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.permanent = status < 500 and status != 429


class FetchUnavailable(WebError):
    """The server could not be reached, its name did not resolve, or it was too slow."""

    permanent = False
