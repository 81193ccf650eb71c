"""Errors raised by the orchestrator.

GraphError (base)
 ├── NotAllowed        the actor may not do this (not an operator, not a decider)
 ├── NotFound          no such approval, event or run
 ├── AlreadyDone       the thing was decided or undone before (carries what happened)
 └── ModelUnavailable  a model call failed in a way worth stepping down for (429, 5xx, no connection);
      │                carries ``status`` and ``retry_after``
      └── ModelBroken  the endpoint answered, but not usably (4xx, HTML, a malformed or empty answer):
                       retrying will fail the same way; carries the ``cause`` in plain words
"""


class GraphError(Exception):
    """Base class; the message is safe to show the operator."""


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
