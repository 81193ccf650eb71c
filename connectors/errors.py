"""Errors raised by connectors.

ConnectorError (base; the message is safe to show the operator; ``connector`` names which)
 └── EmailError          sending mail failed; ``permanent`` says whether trying again can help
      ├── EmailRejected      the server refused the message, a recipient or our login (5xx)
      └── EmailUnavailable   no connection, a timeout, or a temporary refusal (4xx)
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
