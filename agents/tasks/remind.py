"""The task reminder: a job queued for a task's due time that tells the conversation the task came from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from sqlmodel import Session

from agents.dates import due_text
from agents.jobkind import JobContext, JobKind, JobResult, Retry
from memory.tables import Task

REMIND_KIND = "tasks.remind"
REMIND_RETRY = Retry(max_retries=2)
"""The reminder's retries: its kind is built with them and ``add_task`` enqueues with them."""


def remind_kind(tz: tzinfo, clock: Callable[[], datetime] | None = None) -> JobKind:
    """Return the job kind that reminds of a task at its due time (nothing is changed: it only speaks)."""

    def run(ctx: JobContext) -> JobResult:
        task_id = int(ctx.args["task_id"])
        with Session(ctx.db) as s:
            task = s.get(Task, task_id)
        if task is None or task.status != "open":
            # Finishing a task cancels its reminder; this is the race where both happened at once.
            status = task.status if task is not None else "gone"
            return JobResult(
                text=f"Task #{task_id} is {status}; no reminder needed.", data={"reminded": False}
            )
        when = ""
        if task.due_at is not None:
            when = f" ({due_text(task.due_at, task.due_all_day, (clock or ctx.now)(), tz)})"
        return JobResult(
            text=f"Reminder: task #{task.id} {task.text}{when}. Type `done {task.id}` when it is finished.",
            data={"reminded": True},
        )

    return JobKind(
        name=REMIND_KIND, run=run, title="the task reminder", time_limit_s=30.0, **REMIND_RETRY.options()
    )
