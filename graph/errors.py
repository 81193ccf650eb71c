"""Errors raised by the orchestrator.

GraphError (base)
 ├── NotAllowed        the actor may not do this (not an operator, not a decider)
 ├── NotFound          no such approval, event or run
 ├── AlreadyDone       the thing was decided or undone before (carries what happened)
 └── ModelUnavailable  a model call failed in a way worth stepping down for (429, 5xx, no connection);
      │                carries ``status`` and ``retry_after``
      └── ModelBroken  the endpoint answered, but not usably (4xx, HTML, a malformed or empty answer):
                       retrying will fail the same way; carries the ``cause`` in plain words

What a user may see of an error: only a message written for them. An exception says it carries one by
its ``user_message`` attribute (the marker): ``GraphError``, ``agents.errors.AgentError``,
``connectors.errors.ConnectorError``, ``memory.knowledge.errors.KnowledgeError`` and the memory errors
marked so in memory/errors.py. Any other exception (a ``KeyError``, a pydantic ``ValidationError``, a
bug) is unexpected: the user gets `unexpected_text` with an error id, and the exception itself goes to
the log with its traceback and into the run's trace (graph/telemetry.py), never into a reply, a stored
turn or the model's context.
"""

import secrets


def user_message(exc: BaseException) -> str | None:
    """Return the message an error carries for the user, or None when it carries none (it is unexpected)."""
    msg = getattr(exc, "user_message", None)
    return msg if isinstance(msg, str) and msg.strip() else None


def new_error_id() -> str:
    """Return a fresh id for an unexpected error, like ``E-7f3a9c``: what the user quotes, what the log holds."""
    return f"E-{secrets.token_hex(3)}"


def unexpected_text(error_id: str, run_id: str) -> str:
    """Return the one sentence a user sees for an unexpected error."""
    return f"Something went wrong on our side (error {error_id}); it is in the log and in `coo trace {run_id}`."


class GraphError(Exception):
    """Base class; the message is safe to show the operator."""

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class NotAllowed(GraphError):
    """The actor is not allowed to do this."""


class NotFound(GraphError):
    """The referenced approval, event or run does not exist."""


class AlreadyDone(GraphError):
    """The approval was already decided, or the effect already undone."""


class ModelUnavailable(GraphError):
    """A model refused or failed for now (rate limit, server error, timeout): step down and back off.

    Attributes:
        model: The model that failed.
        status: The HTTP status, or None when there was no response.
        retry_after: Seconds the server asked us to wait, when it said.
    """

    def __init__(self, model: str, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(f"The model {model} is unavailable for now ({status or 'no response'}).")
        self.model = model
        self.status = status
        self.retry_after = retry_after


class ModelBroken(ModelUnavailable):
    """The endpoint answered in a way that retrying will not fix: a 4xx, HTML, or a malformed answer.

    Attributes:
        cause: What went wrong and what to do, in one plain sentence for the operator.
    """

    def __init__(self, model: str, status: int | None, cause: str) -> None:
        super().__init__(model, status)
        self.args = (cause,)
        self.cause = cause
