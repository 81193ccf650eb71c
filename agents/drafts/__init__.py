"""The draft agent: emails, posts and replies prepared in the drafts table, editable before sending.

A draft is a reversible write (undo discards it); an edit records the previous values of the fields
it changes and undo restores exactly those. ``send draft N`` is not an operation that sends: at
planning it becomes ``outreach.send_email`` with the draft's exact recipient, subject and body (and
its number), so the card shows what will go out and the recipient check of ``agents/outreach/recipients.py`` applies.

The draft is marked sent by the send job, when the email actually goes out (``agents/outreach/send.py``),
not when the send is approved: an approved email still waits out its undo window and may be
cancelled, or fail for good; in both cases the draft must stay a draft, ready to send again.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session, col, select

from agents.contract import AgentPrompt, ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.crm.schemas import EMAIL
from agents.errors import Missing, Refusal
from agents.phrasings import Phrasing, phrasing
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from memory import crm
from memory.workspace import Draft

AGENT = "drafts"
PROMPT_VERSION = "drafts-1"
PROMPT = """Drafts are messages the operator will read and edit before anything is sent: an email or a
reply needs a recipient address, a subject and a plain-text body; a post needs a body (its subject
is a title). Write in the operator's voice, briefly. Sending a draft is a separate, approved step."""
AGENT_PROMPT = AgentPrompt(AGENT, PROMPT_VERSION, PROMPT)

Kind = Literal["email", "post", "reply"]
SEND_KEY = "outreach.send_email"
EDITABLE = ("to", "subject", "body")


class DraftArgs(BaseModel):
    """Arguments of a new draft."""

    kind: Kind = "email"
    to: str = Field(default="", max_length=254, pattern=rf"^$|{EMAIL}", description="Recipient address")
    subject: str = Field(default="", max_length=200, description="Subject line (a post's title)")
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text body")

    @model_validator(mode="after")
    def _fits_kind(self) -> DraftArgs:
        if self.kind in ("email", "reply") and not self.to:
            raise ValueError(f"an {self.kind} draft needs a recipient address")
        if "\n" in self.subject or "\r" in self.subject:
            raise ValueError("the subject must be one line")
        return self


class EditArgs(BaseModel):
    """Arguments of a draft edit: the fields to change."""

    draft_id: int = Field(ge=1)
    to: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _something(self) -> EditArgs:
        if not self.changes():
            raise ValueError("name a field to change (to, subject, body)")
        return self

    def changes(self) -> dict[str, str]:
        """Return the fields this edit sets."""
        return {f: v for f in EDITABLE if (v := getattr(self, f)) is not None}


class DraftRef(BaseModel):
    """A draft by number."""

    draft_id: int = Field(ge=1)


class ListArgs(BaseModel):
    """Arguments of a draft listing."""

    status: Literal["draft", "sent", "discarded", "all"] = "draft"
    limit: int = Field(default=20, ge=1, le=100)


class DraftOut(BaseModel):
    """A draft as operations report it."""

    id: int
    kind: str
    to: str
    subject: str
    status: str

    @classmethod
    def of(cls, d: Draft) -> DraftOut:
        """Return the view of a row."""
        return cls(id=d.id or 0, kind=d.kind, to=d.recipient, subject=d.subject, status=d.status)


def _column(name: str) -> str:
    return "recipient" if name == "to" else name


def _line(d: Draft) -> str:
    to = f" to {d.recipient}" if d.recipient else ""
    return f"Draft #{d.id} ({d.kind}, {d.status}){to}: {d.subject or d.body[:60]}"


def _get(session: Session, draft_id: int) -> Draft:
    d = session.get(Draft, draft_id)
    if d is None:
        raise Missing(f"there is no draft #{draft_id}")
    return d


def _create(ctx: ExecContext, args: DraftArgs) -> Outcome:
    customer = crm.customer_by_email(ctx.session, args.to) if args.to else None
    d = Draft(
        kind=args.kind,
        recipient=args.to,
        subject=args.subject,
        body=args.body,
        customer_id=customer.id if customer else None,
    )
    ctx.session.add(d)
    ctx.session.flush()
    return Outcome(
        text=f"Saved {_line(d)}. Edit it with `draft {d.id} body: …`, send it with `send draft {d.id}`.",
        payload={"prompt_version": PROMPT_VERSION, "draft": DraftOut.of(d).model_dump()},
        compensation={"draft_id": d.id},
    )


def _discard(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    d = _get(ctx.session, int(payload["draft_id"]))
    if d.status == "sent":
        raise Missing(f"draft #{d.id} was already sent; it is kept as a record")
    d.status = "discarded"
    ctx.session.add(d)
    return Outcome(text=f"Discarded draft #{d.id}.", payload={"draft_id": d.id})


def _edit(ctx: ExecContext, args: EditArgs) -> Outcome:
    d = _get(ctx.session, args.draft_id)
    if d.status != "draft":
        raise Refusal(f"draft #{d.id} is {d.status}; only a draft can be edited")
    previous = {f: getattr(d, _column(f)) for f, v in args.changes().items() if getattr(d, _column(f)) != v}
    for f in previous:
        setattr(d, _column(f), getattr(args, f))
    if "to" in previous:
        customer = crm.customer_by_email(ctx.session, d.recipient)
        previous["customer_id"] = d.customer_id
        d.customer_id = customer.id if customer else None
    ctx.session.add(d)
    changed = ", ".join(f for f in previous if f != "customer_id") or "nothing changed"
    return Outcome(
        text=f"Edited draft #{d.id} ({changed}).",
        payload={"prompt_version": PROMPT_VERSION, "draft_id": d.id, "previous": previous},
        compensation={"draft_id": d.id, "previous": previous},
    )


def _restore(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    d = _get(ctx.session, int(payload["draft_id"]))
    if d.status == "sent":
        raise Missing(f"draft #{d.id} was already sent; its text can no longer change")
    for f, v in payload["previous"].items():
        setattr(d, _column(f), v)
    ctx.session.add(d)
    return Outcome(text=f"Restored draft #{d.id} as it was.", payload={"draft_id": d.id})


def _list(ctx: ExecContext, args: ListArgs) -> Outcome:
    q = select(Draft)
    if args.status != "all":
        q = q.where(Draft.status == args.status)
    rows = ctx.session.exec(q.order_by(col(Draft.id).desc()).limit(args.limit)).all()
    if not rows:
        return Outcome(text="No drafts." if args.status == "draft" else f"No {args.status} drafts.")
    return Outcome(
        text="Drafts:\n" + "\n".join(_line(d) for d in rows),
        payload={"drafts": [DraftOut.of(d).model_dump() for d in rows]},
    )


def send_arguments(session: Session, args: DraftRef) -> tuple[str, dict[str, Any]]:
    """Return the email a draft stands for: its exact recipient, subject and body, and its number.

    Raises:
        LookupError: No such draft.
        ValueError: It is not an email or reply, has no recipient or subject, or is no longer a draft.
    """
    d = _get(session, args.draft_id)
    if d.status != "draft":
        raise Refusal(f"draft #{d.id} is {d.status}, not waiting to be sent")
    if d.kind not in ("email", "reply") or not d.recipient:
        raise Refusal(
            f"draft #{d.id} is a {d.kind} with no recipient; only emails and replies can be sent"
        )
    if not d.subject:
        raise Refusal(f"draft #{d.id} has no subject; add one with `draft {d.id} subject: …`")
    return SEND_KEY, {"to": d.recipient, "subject": d.subject, "body": d.body, "draft_id": d.id}


def mark_sent(session: Session, draft_id: int, *, to: str, subject: str, body: str) -> bool:
    """Mark a draft sent if the email that went out is still exactly its text; return whether it was."""
    d = session.get(Draft, draft_id)
    if d is None or d.status != "draft" or (d.recipient, d.subject, d.body) != (to, subject, body):
        return False
    d.status = "sent"
    session.add(d)
    return True


def _never(_ctx: ExecContext, _args: DraftRef) -> Outcome:
    raise Refusal("`send draft` is proposed as the email itself; it never runs on its own")


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="create_draft",
        description="Save a draft email, post or reply for the operator to edit before sending.",
        args=DraftArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: (
            f"Draft {'an' if a.kind == 'email' else 'a'} {a.kind}"
            + (f" to {a.to}" if a.to else "")
            + f": {a.subject or a.body[:40]!r}"
        ),
        changes=lambda a: "Drafts: one new draft; nothing is sent",
        execute=_create,
        compensate=_discard,
    ),
    Operation(
        agent=AGENT,
        name="edit_draft",
        description="Change a draft's recipient, subject or body.",
        args=EditArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Edit draft #{a.draft_id}: " + ", ".join(a.changes()),
        changes=lambda a: (
            f"Drafts: draft #{a.draft_id}'s " + ", ".join(a.changes()) + " change; nothing is sent"
        ),
        execute=_edit,
        compensate=_restore,
    ),
    Operation(
        agent=AGENT,
        name="list_drafts",
        description="List drafts (waiting ones by default).",
        args=ListArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: "List drafts",
        changes=lambda a: "nothing",
        execute=_list,
    ),
    Operation(
        agent=AGENT,
        name="send_draft",
        description="Send an email or reply draft exactly as it is (asks for approval first).",
        args=DraftRef,
        side_effect=SideEffect.IRREVERSIBLE,
        summarize=lambda a: f"Send draft #{a.draft_id}",
        changes=lambda a: "Email: the draft's message is sent after approval and the undo window",
        execute=_never,
        expand=send_arguments,
    ),
]


_I, _S = re.I, re.I | re.S


def _raw(key: str, **args: Any) -> RawProposal:
    return RawProposal(key, {k: v for k, v in args.items() if v is not None})


def _draft(m: re.Match[str]) -> RawProposal:
    kind = m["kind"].lower()
    subject = (m["subject"] or "").strip()
    return _raw("drafts.create_draft", kind=kind, to=m["to"], subject=subject, body=m["body"].strip())


RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^drafts$", _I), lambda m: _raw("drafts.list_drafts")),
    Rule(
        re.compile(r"^send\s+draft\s+#?(?P<id>\d+)$", _I),
        lambda m: _raw("drafts.send_draft", draft_id=int(m["id"])),
    ),
    Rule(
        re.compile(r"^draft\s+#?(?P<id>\d+)\s+(?P<field>to|subject|body):\s*(?P<value>.+)$", _S),
        lambda m: _raw(
            "drafts.edit_draft",
            draft_id=int(m["id"]),
            **{m["field"].lower(): m["value"] if m["field"].lower() == "body" else m["value"].strip()},
        ),
    ),
    Rule(
        re.compile(
            r"^draft\s+(?P<kind>email|reply)\s+(?P<to>\S+@\S+)\s+(?P<subject>[^:\n]+):\s*(?P<body>.*)$", _S
        ),
        _draft,
    ),
    Rule(
        re.compile(r"^draft\s+(?P<kind>post)\s+(?:(?P<subject>[^:\n]+):\s*)?(?P<body>.+)$", _S),
        lambda m: _raw(
            "drafts.create_draft",
            kind="post",
            subject=(m["subject"] or "").strip(),
            body=m["body"].strip(),
        ),
    ),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "draft <email|reply> <address> <subject>: <body>",
        "write a draft (asks first)",
        ("draft email dana@example.org Invoice: attached",),
    ),
    HelpEntry("draft post <title>: <body>", "draft a post (asks first)", ("draft post Launch: we are live",)),
    HelpEntry(
        "draft <n> <to|subject|body>: <value>",
        "change a draft (asks first)",
        ("draft 1 subject: Invoice 42",),
    ),
    HelpEntry("drafts", "list the drafts", ("drafts",)),
    HelpEntry("send draft <n>", "send a draft as an email (asks first)", ("send draft 1",)),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "drafts.list_drafts",
        "drafts",
        "read",
        ("show my drafts", "what drafts do I have", "list drafts"),
        words="drafts",
    ),
)


def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the drafts agent: messages written and edited before anything is sent."""
    return AgentSpec(
        name=AGENT,
        operations=tuple(OPERATIONS),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
        prompt=AGENT_PROMPT,
    )
