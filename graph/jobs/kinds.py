"""Job kinds now live with the agents that own them: ``agents.jobkind``.

Re-exported here for the callers not yet moved: bot/notify.py, tests and bench.
"""

from agents.jobkind import (
    MAX_BACKOFF_S,
    JobContext,
    JobInfo,
    JobKind,
    JobProgress,
    JobReporter,
    JobResult,
    LeaseLost,
    MessageKey,
    NullReporter,
    Retry,
)

__all__ = [
    "MAX_BACKOFF_S",
    "JobContext",
    "JobInfo",
    "JobKind",
    "JobProgress",
    "JobReporter",
    "JobResult",
    "LeaseLost",
    "MessageKey",
    "NullReporter",
    "Retry",
]
