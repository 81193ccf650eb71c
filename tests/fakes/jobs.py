"""A job runner whose clock is ahead: it runs a delayed job (an email after its undo window) at once."""

from __future__ import annotations

from datetime import timedelta

from graph.jobs.kinds import NullReporter
from graph.jobs.runner import JobRunner
from memory.tables import utcnow


def runner_after(app, seconds: float) -> JobRunner:
    """Return a runner for ``app``'s job kinds whose clock is ``seconds`` ahead of now (reports nowhere)."""
    return JobRunner(
        app.db,
        app.jobs.kinds,
        NullReporter(),
        worker="later",
        resend=lambda *a: None,
        clock=lambda: utcnow() + timedelta(seconds=seconds),
    )
