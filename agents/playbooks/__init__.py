"""The playbooks agent: storing a new version of a playbook is an action like any other (a card, Undo).

Pasting a playbook's YAML in chat proposes ``playbooks.save``; its card shows the validation result and
the diff against the stored version (``changes``), and approving stores the new version and indexes it
in knowledge (kind ``playbook``). Undo removes that version again. Running and scheduling playbooks is
``graph.playbooks``; chat commands are ``bot.playbooks``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, select

from agents.contract import ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.errors import Refusal
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from graph.playbooks.schema import PlaybookError, parse
from memory.playbook_tables import PlaybookSwitch, PlaybookVersion

AGENT = "playbooks"
MAX_YAML = 20_000


class SaveArgs(BaseModel):
    """A playbook's YAML, to store as its next version."""

    text: str = Field(min_length=1, max_length=MAX_YAML, description="The playbook's YAML document")

    @field_validator("text")
    @classmethod
    def _valid(cls, text: str) -> str:
        try:
            parse(text)
        except PlaybookError as exc:
            raise ValueError(exc.user_message) from None
        return text

    @property
    def name(self) -> str:
        """Return the playbook's name."""
        return parse(self.text).name


def diff(old: str, new: str, name: str) -> str:
    """Return a unified diff of two versions of a playbook ("" when they are the same)."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{name} (stored)", f"{name} (new)", lineterm="")
    return "\n".join(lines)


def _current(session: Session, name: str) -> PlaybookVersion | None:
    q = select(PlaybookVersion).where(PlaybookVersion.name == name)
    return session.exec(q.order_by(PlaybookVersion.version.desc())).first()  # type: ignore[attr-defined]


def knowledge_text(text: str) -> str:
    """Return what knowledge keeps of a playbook: its name, purpose, trigger and steps, in words."""
    pb = parse(text)
    steps = "; ".join(f"{s.id} ({s.kind}: {s.condition if s.kind == 'condition' else (s.op or s.query or 'message')})" for s in pb.steps)
    return f"Playbook {pb.name}: {pb.description or 'no description'}. Runs {pb.trigger.describe()}. Steps: {steps}."


def spec(deps: Deps, config: Any = None) -> AgentSpec:
    """Return the playbooks agent's spec."""

    def save(ctx: ExecContext, args: SaveArgs) -> Outcome:
        s = ctx.session
        name = args.name
        top = s.exec(select(func.max(PlaybookVersion.version)).where(PlaybookVersion.name == name)).one()
        prior = _current(s, name)
        if prior is not None and prior.text == args.text:
            raise Refusal(f"Playbook {name} v{prior.version} is already exactly this; nothing to store.")
        row = PlaybookVersion(name=name, version=int(top or 0) + 1, text=args.text, created_by=ctx.actor)
        s.add(row)
        if s.get(PlaybookSwitch, name) is None:
            s.add(PlaybookSwitch(name=name, changed_by=ctx.actor))
        s.flush()
        item_id = None
        if deps.knowledge is not None:
            got = deps.knowledge.remember(s, knowledge_text(args.text), kind="playbook", source=f"playbook:{name}")
            item_id = got.item.id if got.created else None
        return Outcome(
            text=f"Stored playbook {name} v{row.version}.",
            payload={"name": name, "version": row.version},
            compensation={"version_id": row.id, "name": name, "version": row.version, "item_id": item_id},
        )

    def unsave(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        row = ctx.session.get(PlaybookVersion, int(payload["version_id"]))
        if row is not None:
            ctx.session.delete(row)
        if payload.get("item_id") is not None and deps.knowledge is not None:
            try:
                deps.knowledge.forget(ctx.session, int(payload["item_id"]))
            except LookupError:
                pass  # already forgotten
        return Outcome(text=f"Removed playbook {payload['name']} v{payload['version']}.", payload=dict(payload))

    def changes(args: SaveArgs) -> str:
        name = args.name
        if deps.db is None:
            return f"Playbooks: a new version of {name}"
        with Session(deps.db) as s:
            prior = _current(s, name)
        if prior is None:
            return f"Playbooks: a new playbook {name} (valid), v1"
        return f"Playbooks: {name} v{prior.version} → v{prior.version + 1} (valid)\n" + diff(prior.text, args.text, name)

    op = Operation(
        agent=AGENT,
        name="save",
        description="Store a new version of a playbook from its YAML (validated; the card shows the diff).",
        args=SaveArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Store playbook {a.name}",
        changes=changes,
        execute=save,
        compensate=unsave,
    )
    return AgentSpec(name=AGENT, operations=(op,), rules=RULES, help=HELP)


EXAMPLE = "name: hello\ntrigger: {manual: true}\nsteps:\n  - id: hi\n    message: hello"
# A pasted playbook: a YAML document that starts with its name and has steps. Its whole text is the argument.
RULES: tuple[Rule, ...] = (
    Rule(
        re.compile(r"^name:\s*\S+.*^steps:", re.S | re.M),
        lambda m: RawProposal("playbooks.save", {"text": m.string.strip() + "\n"}),
    ),
)
HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "<a playbook's YAML>",
        "create or change a playbook: a card shows the check and the diff (`playbooks` lists them)",
        (EXAMPLE,),
    ),
)
