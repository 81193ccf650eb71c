"""The job system's errors now live in ``agents.joberrors`` (re-exported here)."""

from agents.joberrors import BadKind, JobError, JobFailed, UnknownKind

__all__ = ["BadKind", "JobError", "JobFailed", "UnknownKind"]
