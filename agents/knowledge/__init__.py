"""The knowledge agent: remember, recall and forget, over an injected knowledge store.

Remembering and forgetting are reversible writes (undo forgets or restores; rows are soft-deleted so
the append-only event log can always be replayed). A memory written by a run that read untrusted
content is stored untrusted and labelled so wherever it is shown.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from agents.contract import ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.errors import AgentError
from agents.knowledge.reindex import reindex_kind
from agents.phrasings import Phrasing, phrasing
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from memory.knowledge.errors import EmbeddingFailed, ItemNotFound, KnowledgeError
from memory.knowledge.store import Hit, KnowledgeStore

AGENT = "knowledge"


def _item_id(value: object) -> object:
    """Accept ``12``, ``"12"``, ``"#12"`` and ``"k12"`` as an item id."""
    if isinstance(value, str):
        return value.strip().lstrip("#").removeprefix("k").removeprefix("K")
    return value


ItemId = Annotated[int, BeforeValidator(_item_id), Field(ge=1, description="The item's number, e.g. 12")]


class RememberArgs(BaseModel):
    """Arguments of a new memory."""

    text: str = Field(
        min_length=1, max_length=4000, description="What to remember, as one self-contained note"
    )
    kind: Literal["note", "fact", "playbook"] = Field(
        default="note", description="note, fact (about a customer) or playbook (how we do something)"
    )


class RecallArgs(BaseModel):
    """Arguments of a recall."""

    query: str = Field(min_length=1, max_length=500, description="What to look for")
    limit: int = Field(default=5, ge=1, le=20)


class ForgetArgs(BaseModel):
    """Arguments of a forget."""

    id: ItemId


def label(hit: Hit) -> str:
    """Return how a recalled item is shown: number, kind, provenance when untrusted, and text."""
    trust = "" if hit.trusted else f", UNTRUSTED from {hit.source}"
    return f"#{hit.id} [{hit.kind}{trust}] {hit.text}"


MIN_SIMILARITY = 0.25
"""A recalled item shares a word with the query or is at least this close in meaning (cosine).

Measured with the embedded encoder: a note about the thing asked for scores 0.3-0.5; unrelated notes
(another customer's, an expense's outcome) score under 0.15."""
AUTOMATIC = frozenset({"outcome"})  # written by the engine, not the operator: ranked after theirs


def relevant(store: KnowledgeStore, query: str, limit: int) -> tuple[list[Hit], str]:
    """Return what memory holds about a query, the operator's own items first, and a note on how it searched.

    Only relevant items come back (see ``MIN_SIMILARITY``): recall never pads its answer with whatever
    is nearest. When embedding fails, the search falls back to words alone and the note says so.
    """
    note = ""
    try:
        hits = store.search(query, k=2 * limit, min_similarity=MIN_SIMILARITY)
    except EmbeddingFailed as exc:
        hits, note = store.search(query, k=2 * limit, mode="lexical"), f" (words only: {exc})"
    hits = sorted(hits, key=lambda h: h.kind in AUTOMATIC)  # stable: relevance order within each group
    return hits[:limit], note


def operations(store: KnowledgeStore) -> list[Operation[Any]]:
    """Return the knowledge agent's operations bound to a store."""

    def remember(ctx: ExecContext, args: RememberArgs) -> Outcome:
        trusted = not ctx.untrusted
        source = f"{'operator' if trusted else 'untrusted'}:{ctx.actor}"
        try:
            got = store.remember(ctx.session, args.text, kind=args.kind, source=source, trusted=trusted)
        except KnowledgeError as exc:
            raise AgentError(str(exc)) from exc
        item = got.item
        if not got.created and not got.revived:
            return Outcome(text=f"Already remembered as #{item.id}.", payload={"item_id": item.id})
        note = "" if trusted else " (labelled untrusted: it came from outside)"
        return Outcome(
            text=f"Remembered #{item.id}{note}: {item.text}",
            payload={"item_id": item.id, "trusted": trusted, "revived": got.revived},
            compensation={"item_id": item.id},
        )

    def unremember(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        try:
            store.forget(ctx.session, int(payload["item_id"]))
        except ItemNotFound:
            return Outcome(text=f"#{payload['item_id']} was already forgotten.", payload=dict(payload))
        return Outcome(text=f"Forgot #{payload['item_id']} again.", payload=dict(payload))

    def recall(ctx: ExecContext, args: RecallArgs) -> Outcome:
        hits, note = relevant(store, args.query, args.limit)
        if not hits:
            return Outcome(text=f"Nothing remembered about {args.query!r}{note}.", payload={"hits": []})
        lines = "\n".join(label(h) for h in hits)
        return Outcome(
            text=f"Remembered about {args.query!r}{note}:\n{lines}",
            payload={"hits": [[h.id, round(h.score, 5)] for h in hits]},
        )

    def forget(ctx: ExecContext, args: ForgetArgs) -> Outcome:
        item = store.forget(ctx.session, args.id)  # ItemNotFound is a LookupError: reported, not raised
        return Outcome(
            text=f"Forgot #{item.id}: {item.text[:200]}",
            payload={"item_id": item.id},
            compensation={"item_id": item.id},
        )

    def restore(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        item = store.restore(ctx.session, int(payload["item_id"]))
        return Outcome(text=f"Remembered #{item.id} again: {item.text[:200]}", payload={"item_id": item.id})

    return [
        Operation(
            agent=AGENT,
            name="remember",
            description="Remember a note, a fact about a customer, or a playbook for later recall.",
            args=RememberArgs,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Remember ({a.kind}): {a.text[:200]}",
            changes=lambda a: "Knowledge: one new item (deduplicated by content)",
            execute=remember,
            compensate=unremember,
        ),
        Operation(
            agent=AGENT,
            name="recall",
            description="Look up what was remembered about something (notes, facts, playbooks, past outcomes).",
            args=RecallArgs,
            side_effect=SideEffect.READ,
            summarize=lambda a: f"Recall {a.query!r}",
            changes=lambda a: "nothing",
            execute=recall,
        ),
        Operation(
            agent=AGENT,
            name="forget",
            description="Forget one remembered item by its number.",
            args=ForgetArgs,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Forget item #{a.id}",
            changes=lambda a: f"Knowledge: item #{a.id} is no longer recalled (Undo brings it back)",
            execute=forget,
            compensate=restore,
        ),
    ]


_ABOUT = r"(?:about|on|regarding|for)"
_TOPIC = r"(?:(?:the|my|our)\s+)?(?P<q>.+?)[\s?.!]*$"
_NOT_A_NAME = r"(?!(?:i|you|we|they|he|she|it|this|that|the|a|my|our|people|customers|clients)\b)"


def _recall(m: re.Match[str]) -> RawProposal:
    query = " ".join(p for p in (m.groupdict().get("who"), m.groupdict().get("verb"), m["q"]) if p)
    return RawProposal("knowledge.recall", {"query": " ".join(query.split())})


_QUESTIONS: tuple[str, ...] = (
    # "what do I know about Globex", "what did I note about the lease", "what have we saved on pricing"
    rf"^(?:what|anything)\s+(?:do|did|have)\s+(?:i|we|you)\s+(?:already\s+)?"
    rf"(?:know|note|noted|save|saved|write|wrote|written|jot|jotted|store|stored)"
    rf"(?:\s+down)?\s+{_ABOUT}\s+{_TOPIC}",
    # "anything in memory about pricing?", "anything about Priya"
    rf"^anything\s+(?:in\s+(?:memory|my\s+notes)\s+|saved\s+|noted\s+)?{_ABOUT}\s+{_TOPIC}",
    # "look up my notes on the printer", "search my notes for VAT", "any notes on Acme"
    rf"^(?:(?:look\s+up|search|check|find|show(?:\s+me)?)\s+(?:in\s+)?(?:my\s+)?|any\s+|my\s+)notes\s+{_ABOUT}\s+{_TOPIC}",
    # "find what I saved about Sam"
    rf"^(?:find|show(?:\s+me)?|tell\s+me)\s+what\s+(?:i|we)\s+(?:saved|noted|wrote|know)(?:\s+down)?\s+{_ABOUT}\s+{_TOPIC}",
)

RULES: tuple[Rule, ...] = (
    *(Rule(re.compile(q, re.I), _recall) for q in _QUESTIONS),
    # "what does Priya prefer?", "what does Jordan like for meetings": a person's preference, recalled
    Rule(
        re.compile(
            rf"^what\s+(?:does|did|do)\s+{_NOT_A_NAME}(?P<who>[\w'.-]+(?:\s+[A-Z][\w'.-]*)?)\s+"
            rf"(?P<verb>prefer|like|want|need|use|say|said)(?:\s+(?P<q>.+?))?[\s?.!]*$",
            re.I,
        ),
        _recall,
    ),
    Rule(
        re.compile(r"^remember\s+(?:that\s+)?(?P<text>.+)$", re.I | re.S),  # "remember that X": X
        lambda m: RawProposal("knowledge.remember", {"text": m["text"].strip()}),
    ),
    Rule(
        re.compile(r"^recall\s+(?P<q>.+)$", re.I | re.S),
        lambda m: RawProposal("knowledge.recall", {"query": m["q"].strip()}),
    ),
    Rule(re.compile(r"^forget\s+(?P<id>\S+)$", re.I), lambda m: RawProposal("knowledge.forget", {"id": m["id"]})),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry("remember <text>", "keep a note in memory (asks first)", ("remember Priya prefers mornings",)),
    HelpEntry(
        "recall <query>",
        "find what was remembered; or ask: what do I know about Globex?",
        (
            "recall Priya",
            "what do I know about Globex?",
            "anything about pricing?",
            "search my notes for VAT",
            "find what I saved about Sam",
            "what does Priya prefer?",
        ),
    ),
    HelpEntry("forget <id>", "forget a remembered item (asks first)", ("forget 12",)),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "knowledge.remember",
        "remember {text}",
        "write",
        (
            "note that Jordan prefers email",
            "keep in mind the office closes at 6",
            "make a note: Northwind pays late",
            "save this: the wifi password is on the fridge",
            "don't forget Alex's birthday is in May",
            "write down that Chris likes mornings",
            "make a note that the meeting moved to Tuesday",
            "remember the supplier's phone number is 555 0100",
        ),
        "note that make a keep in mind save this remember write down jot please note: this:",
        words="remember note save",
    ),
    phrasing(
        "knowledge.recall",
        "recall {query}",
        "read",
        (
            "what do I know about Jordan",
            "what does Alex like",
            "what does Jordan prefer for meetings",
            "what did I save about the supplier",
            "look up my notes on Northwind",
            "do you remember what Chris said",
            "search memory for pricing",
            "what did I note about the lease",
            "find my notes about taxes",
        ),
        "what do does did i you know about remember look up search find my notes note on for memory saved "
        "said tell me the anything in",
        words="recall notes memory",
    ),
    phrasing(
        "knowledge.forget",
        "forget {id}",
        "write",
        ("forget note 12", "delete memory #4", "remove remembered item 7", "drop note number 3"),
        words="forget delete",
    ),
)


def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the knowledge agent over ``deps.knowledge`` (no operations and no job without a store)."""
    store = deps.knowledge
    return AgentSpec(
        name=AGENT,
        operations=tuple(operations(store)) if store is not None else (),
        jobs=(reindex_kind(store),) if store is not None else (),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
    )
