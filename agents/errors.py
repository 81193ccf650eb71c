"""Errors raised by agents.

AgentError (base)
 ├── UnknownOperation   no agent offers this operation (the model invented a tool)
 ├── InvalidArguments   the arguments do not fit the operation's schema
 ├── PrecheckFailed     what the action needs is not there (no such invoice, email not set up)
 ├── NotReversible      undo was asked of an operation that cannot be undone
 ├── ConnectorFailed    a connector (calendar, ...) could not read or write; the message says why
 ├── Refusal            the request cannot be done as asked (INV-7 is already paid); also a ValueError
 └── Missing            what the request names is not there (no task #9); also a LookupError

An agent raises these, never a bare ValueError or LookupError, for anything a user is to read: only an
error carrying a ``user_message`` is shown (graph/errors.py); a built-in exception's text never is.
Refusal and Missing subclass ValueError and LookupError so that callers catching those keep working.
"""

from agents.contract import as_clause


class AgentError(Exception):
    """Base class for agent errors; the message is safe to show the operator."""

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class UnknownOperation(AgentError):
    """The named operation does not exist (``hint``: why, when its agent is known but not set up)."""

    def __init__(self, name: str, hint: str | None = None) -> None:
        super().__init__(hint or f"unknown operation {name!r}")
        self.name = name


class InvalidArguments(AgentError):
    """The arguments were rejected by the operation's schema.

    ``whole``: the detail is a sentence written for the user (a validator refused a date after today),
    and the message is that sentence alone, not the schema's wording around it.
    """

    def __init__(self, name: str, detail: str, *, whole: bool = False) -> None:
        if whole:
            super().__init__(f"{detail.rstrip('.')}. Nothing was asked or changed.")
        else:
            super().__init__(f"invalid arguments for {name}: {detail}")
        self.name = name
        self.detail = detail
        self.whole = whole


class PrecheckFailed(AgentError):
    """An action's pre-check refused it before any card: the message is the whole sentence to show."""

    def __init__(self, name: str, summary: str, reason: str) -> None:
        super().__init__(f"Cannot {as_clause(summary)}: {reason.rstrip('.')}. Nothing was asked or changed.")
        self.name = name
        self.reason = reason


class NotReversible(AgentError):
    """The effect has no compensation."""


class ConnectorFailed(AgentError):
    """A connector could not do what the operation needed (the message says which and why)."""


class Refusal(AgentError, ValueError):
    """The request cannot be done as asked; the message says why, for the user."""


class Missing(AgentError, LookupError):
    """What the request names is not there (no such task, invoice, customer); the message says which."""
