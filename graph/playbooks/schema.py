"""A playbook is a YAML document: its schema, and loading it with errors that name the line and the field.

    name: overdue-invoices
    version: 1
    description: Remind customers of overdue invoices
    trigger: {cron: "0 9 * * MON"}          # in COO_TIMEZONE; or {event: invoice.overdue}, {hook: stripe}
    on_failure: stop                         # stop (Retry / Skip step) or continue
    on_missed: card                          # slots missed while down: one card, or `latest` runs at once
    steps:
      - id: overdue
        query: invoices.overdue              # a read of the workspace
      - id: send
        for_each: "{{ steps.overdue.items }}"
        as: inv
        op: outreach.send_email              # an agent operation: policy, trust and approvals apply
        args: {to: "{{ inv.email }}", subject: "Invoice {{ inv.number }}", body: "..."}
        approval: batch                      # every card of the loop on one card
      - id: tell
        message: "Asked to send {{ steps.send.count }} reminder(s)."

A step is exactly one of ``op``, ``query``, ``message`` or ``condition``; ``for_each`` loops an
``op`` or ``query`` over a list; ``when`` skips a step whose condition is false. Steps run in the order
of their dependencies: ``after`` plus every step their templates read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graph.playbooks.cron import Cron, CronError
from graph.playbooks.template import TemplateError, condition_paths, references

EVENTS = ("invoice.overdue", "customer.new")
NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
STEP_ID = r"^[a-z_][a-z0-9_]{0,40}$"
KINDS = ("op", "query", "message", "condition")
MAX_STEPS = 50


class Trigger(BaseModel):
    """When a playbook runs: a cron expression in ``COO_TIMEZONE``, an event, or an inbound hook."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = None
    event: Literal["invoice.overdue", "customer.new"] | None = None
    hook: str | None = None
    manual: bool = False

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                Cron.parse(v)
            except CronError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        given = [k for k in ("cron", "event", "hook") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of cron, event or hook, not {' and '.join(given)}")
        if not given and not self.manual:
            raise ValueError("give one of cron, event, hook, or manual: true")
        return self

    def describe(self) -> str:
        """Say when it runs, in a few words."""
        if self.cron:
            return f"cron {self.cron}"
        if self.event:
            return f"on {self.event}"
        if self.hook:
            return f"on hook {self.hook}"
        return "on demand"


class Step(BaseModel):
    """One step of a playbook (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=STEP_ID)
    after: list[str] = Field(default_factory=list)
    when: str | None = None
    op: str | None = None
    query: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    condition: str | None = None
    for_each: str | None = None
    as_: str = Field(default="item", alias="as", pattern=r"^[a-z_][a-z0-9_]*$")
    approval: Literal["batch", "each"] = "batch"

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step is exactly one of {', '.join(KINDS)} (this one has {len(kinds) or 'none'})")
        if self.for_each is not None and self.kind not in ("op", "query"):
            raise ValueError("for_each loops an op or a query")
        if self.args and self.kind not in ("op", "query"):
            raise ValueError("args belong to an op or a query")
        return self

    @property
    def kind(self) -> str:
        """Return which kind of step this is."""
        return next(k for k in KINDS if getattr(self, k) is not None)

    def reads(self) -> list[str]:
        """Return the dotted paths this step's templates and conditions read."""
        paths = list(references([self.args, self.message or "", self.for_each or ""]))
        for cond in (self.when, self.condition):
            if cond is not None:
                paths += condition_paths(cond)
        return paths

    def needs(self) -> set[str]:
        """Return the steps this one depends on: ``after`` and every ``steps.<id>`` it reads."""
        return set(self.after) | {p.split(".")[1] for p in self.reads() if p.startswith("steps.") and "." in p}


class Playbook(BaseModel):
    """A validated playbook."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    version: int = Field(default=1, ge=1)
    description: str = ""
    trigger: Trigger
    on_failure: Literal["stop", "continue"] = "stop"
    # Slots missed while coo was down: put to the operator on one card, or (``latest``) the latest run at once.
    on_missed: Literal["card", "latest"] = "card"
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step(self, step_id: str) -> Step:
        """Return one step by id."""
        return next(s for s in self.steps if s.id == step_id)

    def order(self) -> list[str]:
        """Return the step ids in a dependency order (ties keep the document's order)."""
        return topo_order(self.steps)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a playbook: where (line, field) and what."""

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "document"
        return f"{where}, {self.field or 'playbook'}: {self.message}"


class PlaybookError(ValueError):
    """A playbook that does not validate; ``problems`` lists each with its line and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.user_message = "The playbook is not valid:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(self.user_message)


def topo_order(steps: Iterable[Step]) -> list[str]:
    """Return the step ids in dependency order.

    Raises:
        ValueError: A cycle (its message names the steps in it).
    """
    steps = list(steps)
    needs = {s.id: s.needs() for s in steps}
    done: list[str] = []
    left = [s.id for s in steps]
    while left:
        ready = [i for i in left if needs[i] <= set(done)]
        if not ready:
            raise ValueError("the steps form a cycle: " + " → ".join(left))
        done.append(ready[0])
        left.remove(ready[0])
    return done


def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each field path of a composed YAML document to its line (1-based)."""
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out.update(_lines(value, sub))
            out[sub] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            out.update(_lines(value, (*path, i)))
    return out


def _line(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple("as" if p == "as_" else p for p in loc)
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc)


def _field(loc: tuple[Any, ...], doc: Any) -> str:
    """Name a field for people: ``steps[2] (send).args`` rather than ``steps.2.args``."""
    out = ""
    cur = doc
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
            if isinstance(cur, dict) and isinstance(cur.get("id"), str):
                label += f" ({cur['id']})"
            out += label
        else:
            out += f".{part}" if out else str(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return out


def parse(text: str, *, operations: Iterable[str] | None = None, queries: Iterable[str] | None = None) -> Playbook:
    """Parse and validate a playbook.

    Args:
        text: The YAML document.
        operations: The registry's ``agent.operation`` keys; None skips the check.
        queries: The names of the workspace queries; None skips the check.

    Raises:
        PlaybookError: What is wrong, each problem with its line and field.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError([Problem(mark.line + 1 if mark else None, "", f"not valid YAML: {what}")]) from None
    if node is None or not isinstance(doc, dict):
        raise PlaybookError([Problem(1, "", "a playbook is a YAML mapping (name, trigger, steps ...)")])
    lines = _lines(node)
    try:
        pb = Playbook.model_validate(doc)
    except ValidationError as exc:
        problems = [
            Problem(_line(lines, tuple(e["loc"])), _field(tuple(e["loc"]), doc), _msg(e["msg"]))
            for e in exc.errors()
        ]
        raise PlaybookError(problems) from None
    problems = _graph_problems(pb, lines, doc, operations, queries)
    if problems:
        raise PlaybookError(problems)
    return pb


def _msg(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _graph_problems(
    pb: Playbook,
    lines: Mapping[tuple[Any, ...], int],
    doc: Any,
    operations: Iterable[str] | None,
    queries: Iterable[str] | None,
) -> list[Problem]:
    ops = set(operations) if operations is not None else None
    qs = set(queries) if queries is not None else None
    ids = [s.id for s in pb.steps]
    out: list[Problem] = []

    def add(i: int, field: str, message: str) -> None:
        loc = ("steps", i, field) if field else ("steps", i)
        out.append(Problem(_line(lines, loc), _field(loc, doc), message))

    for i, s in enumerate(pb.steps):
        if ids.count(s.id) > 1 and ids.index(s.id) != i:
            add(i, "id", f"step id {s.id!r} is used twice")
        try:
            reads = s.reads()
        except TemplateError as exc:
            add(i, "", str(exc))
            continue
        for dep in sorted(s.needs()):
            if dep not in ids:
                add(i, "after" if dep in s.after else "", f"unknown step {dep!r}")
            elif dep == s.id:
                add(i, "after", "a step cannot depend on itself")
        roots = {"steps", "trigger", "playbook", "run", s.as_} if s.for_each else {"steps", "trigger", "playbook", "run"}
        for p in reads:
            if p.split(".")[0] not in roots:
                add(i, "", f"{p!r} names nothing (use steps.<id>…, trigger.…, or the loop's {s.as_!r})")
        if s.op is not None and ops is not None and s.op not in ops:
            add(i, "op", f"unknown operation {s.op!r}")
        if s.query is not None and qs is not None and s.query not in qs:
            add(i, "query", f"unknown query {s.query!r} (known: {', '.join(sorted(qs))})")
    if not any(p.message.startswith("unknown step") for p in out):
        try:
            pb.order()
        except ValueError as exc:
            out.append(Problem(_line(lines, ("steps",)), "steps", str(exc)))
    return out
