"""The tasks agent: the operator's to-do list."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import col, select

from agents.contract import ExecContext, Operation, Outcome, SideEffect
from memory.tables import Task

AGENT = "tasks"


class TaskArgs(BaseModel):
    """Arguments of a new task."""

    text: str = Field(min_length=1, max_length=1000, description="What needs doing")


class ListArgs(BaseModel):
    """Arguments of a task listing."""

    limit: int = Field(default=20, ge=1, le=100)


def _add(ctx: ExecContext, args: TaskArgs) -> Outcome:
    task = Task(text=args.text, idempotency_key=ctx.idempotency_key)
    ctx.session.add(task)
    ctx.session.flush()
    return Outcome(
        text=f"Added task #{task.id}: {args.text}",
        payload={"task_id": task.id, "text": args.text},
        compensation={"task_id": task.id},
    )


def _cancel(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    task = ctx.session.get(Task, int(payload["task_id"]))
    if task is None:
        raise LookupError(f"task {payload['task_id']} not found")
    task.status = "cancelled"
    ctx.session.add(task)
    return Outcome(text=f"Cancelled task #{task.id}.", payload={"task_id": task.id})


def _list(ctx: ExecContext, args: ListArgs) -> Outcome:
    rows = ctx.session.exec(
        select(Task).where(Task.status == "open").order_by(col(Task.id)).limit(args.limit)
    ).all()
    if not rows:
        return Outcome(text="No open tasks.", payload={"tasks": []})
    lines = "\n".join(f"#{t.id} {t.text}" for t in rows)
    return Outcome(text=f"Open tasks:\n{lines}", payload={"tasks": [t.id for t in rows]})


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="add_task",
        description="Add a task to the operator's to-do list.",
        args=TaskArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Add a task: {a.text}",
        changes=lambda a: "Tasks: one new open task",
        execute=_add,
        compensate=_cancel,
    ),
    Operation(
        agent=AGENT,
        name="list_tasks",
        description="List the open tasks.",
        args=ListArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: "List open tasks",
        changes=lambda a: "nothing",
        execute=_list,
    ),
]
