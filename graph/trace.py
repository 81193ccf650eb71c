"""Breadcrumbs: what each run did, step by step, written to the event log (secrets masked)."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
from typing import Any

from sqlalchemy.engine import Engine

from memory import eventlog
from memory.redact import Redactor

log = logging.getLogger(__name__)

# Set while a run executes, so every log line can carry the run and thread it belongs to.
run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("coo_run_id", default=None)
thread_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("coo_thread", default=None)
HOST = f"{socket.gethostname()}:{os.getpid()}"  # where a step ran (`coo trace` shows it)


# (run_id, conversation, kind, idempotency key, payload, actor)
Crumb = tuple[str, str, str, str, dict[str, Any], str]


class Breadcrumbs:
    """Appends trace events; each has an idempotency key, so a re-run step is recorded once."""

    def __init__(self, db: Engine, redactor: Redactor) -> None:
        self.db = db
        self.redactor = redactor

    def add(
        self,
        *,
        run_id: str,
        conversation: str,
        kind: str,
        key: str,
        payload: dict[str, Any],
        actor: str = "coo",
    ) -> None:
        """Record one breadcrumb unless one with the same key exists."""
        self.add_many([(run_id, conversation, kind, key, payload, actor)])

    def add_many(self, crumbs: list[Crumb]) -> None:
        """Record breadcrumbs in one transaction, skipping keys already recorded."""
        eventlog.append_once(self.db, self.rows(crumbs))

    def rows(self, crumbs: list[Crumb]) -> list[dict[str, Any]]:
        """Return breadcrumbs as event-log rows (secrets masked), for a caller's own transaction."""
        return [
            {
                "run_id": run_id,
                "conversation": conversation,
                "kind": kind,
                "action": str(payload.get("node", "")),
                "payload": self.redactor.value(payload),
                "actor": actor,
                "idempotency_key": key,
            }
            for run_id, conversation, kind, key, payload, actor in crumbs
        ]

    @staticmethod
    def step(*, run_id: str, conversation: str, task: dict[str, Any], ms: float) -> Crumb:
        """Return the breadcrumb of a finished (or interrupted, or failed) graph step."""
        waiting = bool(task.get("interrupts"))
        status = "error" if task.get("error") else "waiting" if waiting else "done"
        result = task.get("result")
        payload: dict[str, Any] = {"node": task["name"], "status": status, "ms": round(ms, 3), "host": HOST}
        if isinstance(result, dict):
            payload["update"] = _jsonable(result)
        if task.get("error"):
            payload["error"] = type(task["error"]).__name__
        return (run_id, conversation, "step", f"{run_id}:step:{task['id']}:{status}", payload, "coo")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
