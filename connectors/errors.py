"""Errors raised by connectors.

ConnectorError (base; the message is safe to show the operator; ``connector`` names which)
 ├── EmailError          sending mail failed; ``permanent`` says whether trying again can help
 │    ├── EmailRejected      the server refused the message, a recipient or our login (5xx)
 │    └── EmailUnavailable   no connection, a timeout, or a temporary refusal (4xx)
 └── CalendarError       reading or writing a calendar (ICS feed, CalDAV) failed
      ├── CalendarUnavailable  no connection, a timeout, a refused login or an HTTP error
      ├── CalendarInvalid      the feed is not iCalendar, or the named calendar does not exist
      └── CalendarReadOnly     the calendar cannot take new events (an ICS feed)
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


class CalendarError(ConnectorError):
    """Reading or writing a calendar failed."""

    connector = "calendar"


class CalendarUnavailable(CalendarError):
    """The calendar could not be reached, refused our login, or answered with an error."""


class CalendarInvalid(CalendarError):
    """The feed is not iCalendar, or the named calendar does not exist."""


class CalendarReadOnly(CalendarError):
    """The calendar cannot take new events (an ICS feed is read-only)."""
