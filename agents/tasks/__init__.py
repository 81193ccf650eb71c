"""The tasks agent: the operator's to-do list, with due dates, reminders, and finishing.

Every change asks first and can be undone: add (undo cancels it), done, reopen, delete (undo puts the
previous status back). A task with a due date gets a reminder job at its due time (09:00 on its day
when it has no time), posted to the conversation the task came from; finishing or deleting the task
cancels the reminder, and undoing that schedules it again if its time is still ahead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import Session, col, select

from agents.contract import ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.dates import due_text, is_overdue, parse_due, reminder_at
from agents.errors import Missing, Refusal
from agents.phrasings import Phrasing, phrasing
from agents.spec import (
    DIGEST_LINES,
    AgentSpec,
    Deps,
    DigestDay,
    DigestPart,
    DigestSection,
    HelpEntry,
    Rule,
    more_lines,
)
from agents.tasks.remind import REMIND_KIND, REMIND_RETRY, remind_kind
from memory import jobs
from memory.job_tables import Job
from memory.tables import Task, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["AGENT", "REMIND_KIND", "TasksConfig", "line", "open_tasks", "operations", "spec", "urgency"]

AGENT = "tasks"
_RESTORED = {"open": "Reopened", "done": "Marked done again", "cancelled": "Cancelled", "deleted": "Deleted"}


@dataclass(frozen=True)
class TasksConfig:
    """How tasks read and show dates: the operator's zone (``COO_TIMEZONE``) and the clock."""

    tz: tzinfo = UTC
    clock: Callable[[], datetime] = field(default=utcnow)


class TaskArgs(BaseModel):
    """Arguments of a new task; a due date at the end of the text (``call Priya friday``) is taken off it."""

    tz: ClassVar[tzinfo] = UTC
    clock: ClassVar[Callable[[], datetime]] = staticmethod(utcnow)  # type: ignore[assignment]

    text: str = Field(min_length=1, max_length=1000, description="What needs doing")
    due_at: datetime | None = Field(
        default=None, description="When it is due (ISO 8601; local time if no offset); or say it in the text"
    )
    all_day: bool = Field(default=False, description="Due on that day, at no particular time")

    @model_validator(mode="before")
    @classmethod
    def _due_from_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("due_at") is None and isinstance(data.get("text"), str):
            due, all_day, rest = parse_due(data["text"], cls.clock(), cls.tz)
            if due is not None:
                return {**data, "text": rest, "due_at": due, "all_day": all_day}
        return data

    @field_validator("due_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=cls.tz)  # a wall-clock time in COO_TIMEZONE
        return value


class TaskRef(BaseModel):
    """Which task: its number."""

    task_id: int = Field(ge=1, description="The task's number, as `tasks` shows it")


class ListArgs(BaseModel):
    """Arguments of a task listing."""

    limit: int = Field(default=20, ge=1, le=100)


def _get(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.status == "cancelled":
        raise Missing(f"there is no task #{task_id}")
    return task


def _sync_reminder(ctx: ExecContext, task: Task, config: TasksConfig) -> None:
    """Keep one queued reminder for an open task with a due time ahead, and none for any other."""
    job = ctx.session.get(Job, task.reminder_job) if task.reminder_job else None
    queued = job is not None and job.status == "queued"
    if task.status != "open":
        if job is not None and queued:
            jobs.cancel(ctx.session, job.id, config.clock())
        return
    if queued or task.due_at is None:
        return
    at = reminder_at(task.due_at, task.due_all_day, config.tz)
    if at <= config.clock():
        return  # its time has passed: `tasks` shows it overdue instead
    job = jobs.enqueue(
        ctx.session,
        kind=REMIND_KIND,
        key=f"remind:{ctx.idempotency_key}",
        args={"task_id": task.id},
        conversation=task.conversation,
        run_at=at,
        max_attempts=REMIND_RETRY.max_attempts,
    )
    task.reminder_job = job.id


def line(task: Task, now: datetime, tz: tzinfo) -> str:
    """Return one task as a line: ``#3 call Priya — due today``."""
    if task.due_at is None:
        return f"#{task.id} {task.text}"
    return f"#{task.id} {task.text} — {due_text(task.due_at, task.due_all_day, now, tz)}"


def urgency(task: Task, now: datetime, tz: tzinfo) -> tuple[int, datetime, int]:
    """Sort key: overdue first, then due today, then by due date, then undated, each by number."""
    if task.due_at is None:
        return (3, datetime.max.replace(tzinfo=UTC), task.id or 0)
    if is_overdue(task.due_at, task.due_all_day, now, tz):
        return (0, task.due_at, task.id or 0)
    today = task.due_at.astimezone(tz).date() == now.astimezone(tz).date()
    return (1 if today else 2, task.due_at, task.id or 0)


def open_tasks(session: Session, now: datetime, tz: tzinfo) -> list[Task]:
    """Return every open task, most urgent first (see `urgency`)."""
    rows = session.exec(select(Task).where(Task.status == "open").order_by(col(Task.id))).all()
    return sorted(rows, key=lambda t: urgency(t, now, tz))


def operations(config: TasksConfig = TasksConfig()) -> list[Operation[Any]]:  # noqa: B008 - frozen
    """Return the tasks operations for a configuration (zone and clock)."""

    class Args(TaskArgs):
        tz: ClassVar[tzinfo] = config.tz
        clock: ClassVar[Callable[[], datetime]] = staticmethod(config.clock)  # type: ignore[assignment]

    Args.__name__ = "TaskArgs"

    def when(a: TaskArgs) -> str:
        return f", {due_text(a.due_at, a.all_day, config.clock(), config.tz)}" if a.due_at else ""

    def add(ctx: ExecContext, args: TaskArgs) -> Outcome:
        task = Task(
            text=args.text,
            idempotency_key=ctx.idempotency_key,
            due_at=args.due_at.astimezone(UTC) if args.due_at else None,
            due_all_day=args.all_day,
            conversation=ctx.conversation,
        )
        ctx.session.add(task)
        ctx.session.flush()
        _sync_reminder(ctx, task, config)
        remind = ""
        if task.reminder_job and task.due_at is not None:
            at = reminder_at(task.due_at, task.due_all_day, config.tz).astimezone(config.tz)
            remind = f"; I will remind you here at {at:%H:%M} on {at:%a} {at.day} {at:%b}"
        return Outcome(
            text=f"Added task #{task.id}: {args.text}{when(args)}{remind}.",
            payload={"task_id": task.id, "text": args.text, "reminder_job": task.reminder_job},
            compensation={"task_id": task.id, "previous": "cancelled"},  # before it: no task
        )

    def restore(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        task = ctx.session.get(Task, int(payload["task_id"]))
        if task is None:
            raise Missing(f"there is no task #{payload['task_id']}")
        task.status = payload["previous"]
        _sync_reminder(ctx, task, config)
        ctx.session.add(task)
        return Outcome(
            text=f"{_RESTORED[task.status]} task #{task.id}: {task.text}.", payload={"task_id": task.id}
        )

    def check(want: set[str], verb: str) -> Callable[[Session, TaskRef], None]:
        def precheck(session: Session, args: TaskRef) -> None:
            task = _get(session, args.task_id)
            if task.status not in want:
                raise Refusal(f"task #{task.id} is {task.status} already, so there is nothing to {verb}")

        return precheck

    def change(to: str, verb: str) -> Callable[[ExecContext, TaskRef], Outcome]:
        def run(ctx: ExecContext, args: TaskRef) -> Outcome:
            task = _get(ctx.session, args.task_id)
            previous = task.status
            task.status = to
            _sync_reminder(ctx, task, config)
            ctx.session.add(task)
            return Outcome(
                text=f"{verb} task #{task.id}: {task.text}.",
                payload={"task_id": task.id, "status": to, "previous": previous},
                compensation={"task_id": task.id, "previous": previous},
            )

        return run

    def listing(ctx: ExecContext, args: ListArgs) -> Outcome:
        now = config.clock()
        rows = open_tasks(ctx.session, now, config.tz)[: args.limit]
        if not rows:
            return Outcome(text="No open tasks.", payload={"tasks": []})
        lines = "\n".join(line(t, now, config.tz) for t in rows)
        return Outcome(text=f"Open tasks:\n{lines}", payload={"tasks": [t.id for t in rows]})

    def ref(verb: str) -> Callable[[TaskRef], str]:
        return lambda a: f"{verb} task #{a.task_id}"

    return [
        Operation(
            agent=AGENT,
            name="add_task",
            description="Add a task to the operator's to-do list (a due date may end the text: 'friday 3pm').",
            args=Args,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Add a task: {a.text}{when(a)}",
            changes=lambda a: (
                "Tasks: one new open task" + (" and a reminder at its due time" if a.due_at else "")
            ),
            execute=add,
            compensate=restore,
        ),
        Operation(
            agent=AGENT,
            name="complete_task",
            description="Mark an open task done.",
            args=TaskRef,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Mark task #{a.task_id} done",
            changes=lambda a: f"Tasks: #{a.task_id} becomes done; its reminder, if any, is cancelled",
            execute=change("done", "Finished"),
            compensate=restore,
            precheck=check({"open"}, "finish"),
        ),
        Operation(
            agent=AGENT,
            name="reopen_task",
            description="Open a finished or deleted task again.",
            args=TaskRef,
            side_effect=SideEffect.REVERSIBLE,
            summarize=ref("Reopen"),
            changes=lambda a: f"Tasks: #{a.task_id} becomes open again",
            execute=change("open", "Reopened"),
            compensate=restore,
            precheck=check({"done", "deleted"}, "reopen"),
        ),
        Operation(
            agent=AGENT,
            name="delete_task",
            description="Delete a task (it can be undone).",
            args=TaskRef,
            side_effect=SideEffect.REVERSIBLE,
            summarize=ref("Delete"),
            changes=lambda a: f"Tasks: #{a.task_id} is deleted; its reminder, if any, is cancelled",
            execute=change("deleted", "Deleted"),
            compensate=restore,
            precheck=check({"open", "done"}, "delete"),
        ),
        Operation(
            agent=AGENT,
            name="list_tasks",
            description="List the open tasks, overdue and due today first.",
            args=ListArgs,
            side_effect=SideEffect.READ,
            summarize=lambda a: "List open tasks",
            changes=lambda a: "nothing",
            execute=listing,
        ),
    ]


OPERATIONS: list[Operation[Any]] = operations()
"""The operations in UTC with the real clock (tests and tools without settings)."""


_DONE = "done|complete|completed|finish|finished"
_TASK_OPS = {"reopen": "reopen_task", "delete": "delete_task", "remove": "delete_task"}


def _task_change(m: re.Match[str]) -> RawProposal:
    op = _TASK_OPS.get(m["verb"].lower(), "complete_task")
    return RawProposal(f"tasks.{op}", {"task_id": int(m["id"])})


RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^tasks$", re.I), lambda m: RawProposal("tasks.list_tasks", {})),
    Rule(
        re.compile(rf"^(?P<verb>{_DONE}|reopen|delete|remove)\s+(?:task\s+)?#?(?P<id>\d+)$", re.I),
        _task_change,
    ),
    Rule(  # "task 1 done", "mark #1 as done": a change to task 1, never a new task named "1 done"
        re.compile(
            rf"^(?:(?:task|todo|mark)\s+)?(?:task\s+)?#?(?P<id>\d+)\s+(?:as\s+)?(?P<verb>{_DONE}|reopen|delete|remove)$",
            re.I,
        ),
        _task_change,
    ),
    Rule(
        re.compile(r"^(?:task|todo)\s+(?P<text>.+)$", re.I | re.S),
        lambda m: RawProposal("tasks.add_task", {"text": m["text"].strip()}),
    ),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "task <text> [due]",
        "add a task; a due day/time at the end gets a reminder here (asks first)",
        (
            "task call Priya",
            "todo order ink",
            "task call Priya tomorrow",
            "task send deck friday 3pm",
            "task renew domain on 2026-12-10",
        ),
    ),
    HelpEntry("tasks", "the open tasks, overdue and due today first", ("tasks",)),
    HelpEntry(
        "done <n> (complete, finish)",
        "mark a task done (asks first; undo reopens it)",
        ("done 1", "complete 2", "finish #3", "task 1 done", "mark 2 as done"),
    ),
    HelpEntry("reopen <n>", "open a finished task again (asks first)", ("reopen 1",)),
    HelpEntry("delete <n>", "delete a task (asks first; undo brings it back)", ("delete 1", "delete task 2")),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "tasks.add_task",
        "task {text}",
        "write",
        (
            "add a task to call the accountant",
            "remind me to renew the domain",
            "todo: buy stamps",
            "I need to follow up with Jordan",
            "don't let me forget to file taxes",
            "new task update the website",
            "put pay rent on my list",
            "add to my to-do list: order ink",
        ),
        "add a new task todo to-do to do remind me i need don't dont let forget put on my list please have "
        "reminder: todo: task: list:",
        words="task todo to-do remind",
    ),
    phrasing(
        "tasks.list_tasks",
        "tasks",
        "read",
        (
            "what are my tasks",
            "show my to-do list",
            "what do I have to do",
            "list open tasks",
            "anything left on my list",
            "what's on my plate",
        ),
        words="tasks",
    ),
)


def digest_section(db: Engine) -> DigestSection:
    """The digest's ``Open tasks`` section: how many, how many due or overdue, those first."""

    def collect(day: DigestDay) -> DigestPart:
        with Session(db) as s:
            every = open_tasks(s, day.now, day.tz)  # overdue and due today first
        shown = every[:DIGEST_LINES]
        due = [t for t in every if t.due_at is not None and urgency(t, day.now, day.tz)[0] <= 1]
        lines = [f"Open tasks: {len(every)}" + (f", {len(due)} due or overdue" if due else "")]
        lines += [f"  • {line(t, day.now, day.tz)[:120]}" for t in shown]
        lines += more_lines(len(shown), len(every))
        facts = [f"Task {line(t, day.now, day.tz).split(' ', 1)[1]}" for t in due[:10]]
        return DigestPart(lines, facts)

    return DigestSection("Open tasks", collect)


def spec(deps: Deps, config: TasksConfig | None = None) -> AgentSpec:
    """Return the tasks agent: its operations in the operator's zone, the reminder job, its digest section."""
    config = config or TasksConfig(tz=deps.tz, clock=deps.clock)
    return AgentSpec(
        name=AGENT,
        operations=tuple(operations(config)),
        jobs=(remind_kind(config.tz),),
        enqueues=(REMIND_KIND,),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
        digest=(digest_section(deps.db),) if deps.db is not None else (),
    )
