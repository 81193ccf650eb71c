"""What a kind of job is (owned by the agent whose operations enqueue it), what its actor gets when it runs, and how it reports to the chat.

A job kind is a name (also the Dramatiq actor's name), a function ``run(ctx) -> JobResult``, and its
limits: a time limit, a retry limit and a backoff. ``run`` must be idempotent by ``ctx.key``: Dramatiq
delivers at least once, and a worker that dies mid-job means the job runs again.

Progress: ``ctx.progress.update("Reading sources", step=2, of=5)`` edits the job's one chat message
(throttled) and records the line on the job row. The result's ``text`` becomes that message's final
state; its ``outcomes`` (cards, answers) are posted after it in the same conversation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.joberrors import BadKind, JobError
from memory.job_tables import Job

if TYPE_CHECKING:  # outcomes are graph's values; a job only passes them through
    from graph import outcomes as o

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class JobInfo:
    """A job as reporters see it: who it is, where it reports, which attempt this is."""

    id: str
    kind: str
    key: str
    title: str
    conversation: str
    attempt: int
    max_attempts: int
    message_key: str | None  # the chat message the job edits (``job:<id>`` unless its kind says otherwise)


@dataclass(frozen=True)
class JobResult:
    """What a finished job says: the final text of its message, then anything to post after it."""

    text: str
    outcomes: list[o.Outcome] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # kept on the job row


class JobReporter(Protocol):
    """Where jobs tell the operator how they are doing (the chat, in the application)."""

    def progress(self, job: JobInfo, text: str) -> None:
        """Show a running job's progress (edit its message)."""
        ...

    def finished(self, job: JobInfo, result: JobResult) -> None:
        """Show a job's result."""
        ...

    def failed(self, job: JobInfo, error: str, retry_in_s: float | None) -> None:
        """Show a failed attempt: retrying in ``retry_in_s`` seconds, or given up (None: offer Retry)."""
        ...


class NullReporter:
    """Reports nowhere (jobs with no conversation, tests of the machinery alone)."""

    def progress(self, job: JobInfo, text: str) -> None:
        """Drop the progress line."""

    def finished(self, job: JobInfo, result: JobResult) -> None:
        """Drop the result."""

    def failed(self, job: JobInfo, error: str, retry_in_s: float | None) -> None:
        """Drop the failure."""


class LeaseLost(JobError):
    """This worker no longer holds the job (its lease expired and another worker took it)."""


class JobProgress:
    """A running job's progress line: recorded on the job, shown by editing its one message.

    Edits are throttled to one per ``min_interval_s`` (chat APIs rate-limit edits); the newest line
    is what the job row holds. ``update`` raises LeaseLost when another worker has taken the job, so
    long work stops early instead of racing its new owner.
    """

    def __init__(
        self,
        job: JobInfo,
        *,
        record: Callable[[str], bool],
        show: Callable[[str], None],
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self._record, self._show = record, show
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last_shown: float | None = None
        self.last = ""

    def update(self, text: str, *, step: int | None = None, of: int | None = None) -> None:
        """Report progress, e.g. ``update("Collecting approvals", step=2, of=5)``."""
        line = f"{text} ({step}/{of})" if step is not None and of else text
        self.last = line
        if not self._record(line):
            raise LeaseLost(f"job {self.job.id} was taken over by another worker")
        now = self._clock()
        if self._last_shown is None or now - self._last_shown >= self.min_interval_s:
            self._last_shown = now
            self._show(line)


@dataclass
class JobContext:
    """What a job's ``run`` gets."""

    job: JobInfo
    args: dict[str, Any]
    progress: JobProgress
    db: Engine
    now: Callable[[], datetime]

    @property
    def key(self) -> str:
        """Return the job's idempotency key (key every effect by it)."""
        return self.job.key


MessageKey = Callable[[Session, Job], str | None]


@dataclass(frozen=True)
class Retry:
    """A job kind's retry policy, in one place.

    The kind is built with it (``**retry.options()``) and the operation that enqueues the job passes
    ``max_attempts=retry.max_attempts``, so the job row and the kind never disagree.

    Attributes:
        max_retries: Attempts after the first before the job becomes a dead letter.
        backoff_s: The wait before the first retry; it doubles per attempt, at most an hour.
    """

    max_retries: int = 2
    backoff_s: float = 5.0

    @property
    def max_attempts(self) -> int:
        """Return how many attempts a job gets."""
        return self.max_retries + 1

    def options(self) -> dict[str, Any]:
        """Return the ``JobKind`` keyword arguments of this policy."""
        return {"max_retries": self.max_retries, "backoff_s": self.backoff_s}


@dataclass(frozen=True)
class JobKind:
    """One kind of job: its name, what runs it, and its limits.

    Attributes:
        name: The kind, and the Dramatiq actor's name.
        run: Does the work; idempotent by ``ctx.key``.
        title: How messages name it ("the digest").
        time_limit_s: Dramatiq interrupts an attempt that runs longer (not inside a blocking C call).
        max_retries: Attempts after the first before the job becomes a dead letter.
        backoff_s: The wait before the first retry; it doubles per attempt, at most an hour.
        queue: The Dramatiq queue.
        message_key: Which chat message the job edits (default ``job:<id>``), e.g. the Done message
            of the action that scheduled it.
    """

    name: str
    run: Callable[[JobContext], JobResult]
    title: str = ""
    time_limit_s: float = 300.0
    max_retries: int = 2
    backoff_s: float = 5.0
    queue: str = "coo"
    message_key: MessageKey | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise BadKind(
                f"job kind {self.name!r}: use letters, digits, '.', '_' or '-' (e.g. 'digest.build')"
            )
        if not _NAME.fullmatch(self.queue):
            raise BadKind(f"job kind {self.name}: queue {self.queue!r} is not a valid queue name")
        if not self.time_limit_s > 0:
            raise BadKind(f"job kind {self.name}: time_limit_s must be > 0 (got {self.time_limit_s})")
        if self.max_retries < 0:
            raise BadKind(f"job kind {self.name}: max_retries must be >= 0 (got {self.max_retries})")
        if self.backoff_s < 0:
            raise BadKind(f"job kind {self.name}: backoff_s must be >= 0 (got {self.backoff_s})")

    @property
    def max_attempts(self) -> int:
        """Return how many attempts a job of this kind gets."""
        return self.max_retries + 1

    @property
    def retry(self) -> Retry:
        """Return the kind's retry policy."""
        return Retry(self.max_retries, self.backoff_s)

    @property
    def label(self) -> str:
        """Return how messages name it."""
        return self.title or f"the {self.name} job"

    def retry_delay_s(self, attempt: int) -> float:
        """Return the wait after a failed attempt (1-based) before the next one."""
        return float(min(self.backoff_s * 2 ** max(attempt - 1, 0), MAX_BACKOFF_S))
