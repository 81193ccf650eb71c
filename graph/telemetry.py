"""Tracing: a breadcrumb per step, spans per run and step, and the record of an unexpected error.

Breadcrumbs are graph/trace.py's; OpenTelemetry spans are made when tracing is on.

An unexpected error (one that carries no ``user_message``, see graph/errors.py) gets an id. The id, the
exception and its traceback go to the log; the id, the exception's type and its (redacted) text go into
the run's trace, so ``coo trace RUN`` finds it. The user is told the id and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace as otel_trace
from sqlalchemy.engine import Engine

from graph.errors import new_error_id
from graph.trace import Breadcrumbs, Crumb, run_id_var, thread_var
from memory.redact import NO_SECRETS, Redactor

log = logging.getLogger(__name__)
tracer = otel_trace.get_tracer("coo.engine")


class Steps:
    """Times the graph's tasks of one run as they stream by; collects their breadcrumbs."""

    def __init__(self, run_id: str, conversation: str) -> None:
        self.run_id = run_id
        self.conversation = conversation
        self.crumbs: list[Crumb] = []
        self._started: dict[str, float] = {}

    def observe(self, task: dict[str, Any]) -> None:
        """Take one item of ``graph.stream(..., stream_mode="tasks")``: a task starting or finishing."""
        if "input" in task:
            self._started[task["id"]] = time.perf_counter()
            return
        t0 = self._started.pop(task["id"], time.perf_counter())
        ms = (time.perf_counter() - t0) * 1000
        self.crumbs.append(Breadcrumbs.step(run_id=self.run_id, conversation=self.conversation, task=task, ms=ms))
        span = tracer.start_span(
            f"coo.step {task['name']}",
            start_time=time.time_ns() - int(ms * 1e6),
            attributes={
                "coo.run_id": self.run_id,
                "coo.node": task["name"],
                "coo.ms": ms,
                "coo.waiting": bool(task.get("interrupts")),
            },
        )
        if task.get("error"):
            span.set_attribute("coo.error", type(task["error"]).__name__)
        span.end()


class Telemetry:
    """Breadcrumbs, spans and unexpected errors, for the engine and the executor."""

    def __init__(self, db: Engine, redactor: Redactor = NO_SECRETS) -> None:
        self.crumbs = Breadcrumbs(db, redactor)

    @contextmanager
    def run(self, run_id: str, conversation: str, *, record: bool = True) -> Iterator[Steps]:
        """Trace one drive of a run: a span around it; its steps' breadcrumbs written once when it ends.

        Args:
            run_id: The run.
            conversation: Its conversation.
            record: Write the breadcrumbs when the drive ends; False leaves them in ``Steps.crumbs`` for
                the caller's own transaction (the driver writes them with the run's status and reply).
        """
        run_id_var.set(run_id)
        thread_var.set(conversation)
        steps = Steps(run_id, conversation)
        try:
            with tracer.start_as_current_span(
                "coo.run", attributes={"coo.run_id": run_id, "coo.thread": conversation}
            ):
                yield steps
        finally:
            if record:
                self.crumbs.add_many(steps.crumbs)

    def unexpected(self, exc: BaseException, *, run_id: str, conversation: str, where: str) -> str:
        """Record an unexpected error in the log (with its traceback) and in the run's trace; return its id.

        Args:
            exc: The exception.
            run_id: The run it belongs to (whose ``coo trace`` shows it).
            conversation: The run's conversation.
            where: What was being done (an operation's name, ``run``, ``undo``).
        """
        error_id = new_error_id()
        log.error(
            "unexpected error %s in %s (run %s): %s", error_id, where, run_id, type(exc).__name__, exc_info=exc
        )
        otel_trace.get_current_span().add_event(
            "coo.unexpected_error", {"coo.error_id": error_id, "coo.error": type(exc).__name__}
        )
        try:
            self.crumbs.add(
                run_id=run_id,
                conversation=conversation,
                kind="error",
                key=f"{run_id}:error:{error_id}",
                payload={
                    "error_id": error_id,
                    "where": where,
                    "type": type(exc).__name__,
                    "text": str(exc)[:500],
                },
            )
        except Exception:  # noqa: BLE001 - recording an error never hides it; the log has it already
            log.exception("could not record error %s in the trace of run %s", error_id, run_id)
        return error_id
