"""Errors raised by connectors.

ConnectorError (base; the message is safe to show the operator; ``connector`` names which)
 ├── EmailError          sending mail failed; ``permanent`` says whether trying again can help
 │    ├── EmailRejected      the server refused the message, a recipient or our login (5xx)
 │    └── EmailUnavailable   no connection, a timeout, or a temporary refusal (4xx)
 └── WebError            fetching a page failed; ``url`` names it, ``permanent`` as above
      ├── UrlRefused         not http(s), a private/loopback address, too many redirects (never sent)
      ├── ContentRefused     the server answered with a content type we do not read (binary, ...)
      ├── FetchFailed        the server answered with an error status (4xx permanent, 5xx not)
      └── FetchUnavailable   no connection, no DNS answer, or a timeout
"""


class ConnectorError(Exception):
    """Base class for connector errors."""

    connector = "connector"


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
