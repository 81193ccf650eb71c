"""Errors of the job system.

JobError (base; the message is safe to show the operator)
 ├── JobFailed      a job's own, user-safe failure; ``retry`` says whether another attempt can help
 ├── UnknownKind    no actor is registered for a job's kind
 └── BadKind        a job kind was declared with invalid options (raised at registration)
"""


class JobError(Exception):
    """Base class for job errors."""


class JobFailed(JobError):
    """A job failed for a reason it can put in plain words.

    Attributes:
        retry: Whether trying again may succeed (False: dead letter at once).
        retry_after_s: The least wait before the next attempt (a receiver's Retry-After); the kind's
            backoff applies when it is longer.
    """

    def __init__(self, message: str, *, retry: bool = True, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after_s = retry_after_s


class UnknownKind(JobError):
    """No actor runs this kind of job."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no worker knows how to run a {kind!r} job")
        self.kind = kind


class BadKind(JobError, ValueError):
    """A job kind's options are invalid."""
