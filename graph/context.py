"""Context assembly: a bounded context for each model call.

What goes in: the thread's recent turns (the oldest summarised, without a model, once they pass the
history budget), the knowledge items that match the request, and the workspace rows it names. What
was retrieved is returned with its scores so the engine can record it on the run. Retrieved text is
wrapped as ``<data ...>`` blocks: information for the model, never instructions to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from graph.placement import Router, withheld_item, withheld_row
from memory import workspace
from memory.knowledge.errors import KnowledgeError
from memory.knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)

Turns = list[tuple[str, str]]


def estimate_tokens(text: str) -> int:
    """Estimate tokens offline (about four characters each; tiktoken cannot download its encodings here)."""
    return (len(text) + 3) // 4


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def data_block(source: str, trusted: bool, body: str, **attrs: str) -> str:
    """Wrap text as a ``<data>`` block whose body cannot close or forge the tag."""
    extra = "".join(f' {k}="{_escape(v).replace(chr(34), "&quot;")}"' for k, v in attrs.items())
    src = _escape(source).replace('"', "&quot;")
    return f'<data source="{src}" trusted="{str(trusted).lower()}"{extra}>{_escape(body)}</data>'


@dataclass(frozen=True)
class Budget:
    """How big a context may get.

    Attributes:
        total_tokens: The whole context (history + data blocks), estimated.
        history_tokens: Recent turns kept verbatim; older ones are summarised.
        summary_tokens: The summary of older turns.
        knowledge_items: Knowledge items retrieved at most.
        workspace_rows: Workspace rows retrieved at most.
        item_chars: A single item is cut to this many characters.
        min_similarity: Vector hits below this cosine are left out (lexical hits stay).
    """

    total_tokens: int = 3000
    history_tokens: int = 1200
    summary_tokens: int = 150
    knowledge_items: int = 5
    workspace_rows: int = 5
    item_chars: int = 800
    min_similarity: float = 0.2


@dataclass(frozen=True)
class Retrieved:
    """One thing put into a context, with why."""

    ref: str
    score: float
    trusted: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assembled:
    """A model call's context: turns to send as messages, data text, what was retrieved, and its size."""

    history: Turns
    text: str
    retrieved: list[Retrieved]
    tokens: int

    @property
    def untrusted(self) -> bool:
        """Tell whether anything untrusted went into the context."""
        return any(not r.trusted for r in self.retrieved)


def trim_history(turns: Turns, budget: Budget) -> tuple[Turns, str]:
    """Keep the newest turns that fit the history budget; summarise the rest in one line.

    Returns:
        The kept turns (oldest first) and a summary of the dropped ones ("" when none were).
    """
    kept: Turns = []
    used = 0
    for role, text in reversed(turns):
        cost = estimate_tokens(text) + 4
        if used + cost > budget.history_tokens:
            break
        kept.append((role, text))
        used += cost
    kept.reverse()
    dropped = turns[: len(turns) - len(kept)]
    if not dropped:
        return kept, ""
    limit = budget.summary_tokens * 4
    parts = [f"{role}: {' '.join(text.split())[:80]}" for role, text in dropped if role == "user"]
    summary = f"{len(dropped)} earlier turns; the operator said: " + " | ".join(parts)
    return kept, summary[:limit]


class ContextBuilder:
    """Builds the context for a request from the thread, the knowledge store and the workspace.

    With a ``router`` (``graph.placement``), the request is routed first: the instructions and tools the
    routed call carries (``fixed``) count against ``total_tokens``, and when the endpoint that will plan
    it is not marked local, sensitive agents' data is withheld: their workspace rows and memories, outcome
    notes (tool results of any agent), and the thread's turns (they quote results). What was withheld is
    recorded with what was retrieved, as ``withheld:…`` refs, so the trace shows it.
    """

    def __init__(
        self,
        *,
        knowledge: KnowledgeStore | None,
        db: Engine | None,
        budget: Budget | None = None,
        router: Router | None = None,
        fixed: Callable[[tuple[str, ...] | None], int] | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.db = db
        self.budget = budget or Budget()
        self.router = router
        self.fixed = fixed

    def build(self, query: str, turns: Turns) -> Assembled:
        """Assemble the context for ``query`` given the thread's turns before it (oldest first)."""
        b = self.budget
        route = self.router.route(query) if self.router is not None else None
        withheld = route.withheld if route is not None else ()
        reserved = self.fixed(route.agents if route else None) if self.fixed is not None else 0
        room = max(b.total_tokens - reserved, 0)  # the tools and instructions count too
        blocks: list[str] = []
        retrieved: list[Retrieved] = []
        if withheld:
            note = {"endpoint": route.endpoint if route else "", "agents": list(withheld)}
            retrieved.append(Retrieved("withheld:history", 0.0, True, {**note, "turns": len(turns)}))
            turns = []
        history, summary = trim_history(turns, replace(b, history_tokens=min(b.history_tokens, room)))
        used = sum(estimate_tokens(t) + 4 for _, t in history)
        summary_block = data_block("conversation-summary", True, summary) if summary else ""
        if summary_block and (self.fixed is None or used + estimate_tokens(summary_block) <= room):
            blocks.append(summary_block)
            used += estimate_tokens(summary_block)
        for block, item in self._knowledge(query) + self._workspace(query):
            if withheld and item.detail.get("withheld"):
                retrieved.append(
                    Retrieved(f"withheld:{item.ref}", item.score, item.trusted, {"agents": list(withheld)})
                )
                continue
            cost = estimate_tokens(block)
            if used + cost > room:
                continue
            blocks.append(block)
            retrieved.append(item)
            used += cost
        return Assembled(history, "\n".join(blocks), retrieved, used + reserved)

    def _knowledge(self, query: str) -> list[tuple[str, Retrieved]]:
        if self.knowledge is None or self.budget.knowledge_items <= 0:
            return []
        k, floor = self.budget.knowledge_items, self.budget.min_similarity
        try:
            hits = self.knowledge.search(query, k=k, min_similarity=floor)
        except KnowledgeError:
            log.warning("vector retrieval failed; using the lexical side alone", exc_info=True)
            hits = self.knowledge.search(query, k=k, mode="lexical")
        out = []
        for h in hits:
            body = h.text[: self.budget.item_chars]
            block = data_block(
                h.source or "knowledge",
                h.trusted,
                body,
                ref=h.ref,
                kind=h.kind,
                at=f"{h.created_at:%Y-%m-%d}",
            )
            detail: dict[str, Any] = {
                name: [rank, round(score, 5)] for name, (rank, score) in h.ranks.items()
            }
            if withheld_item(h.kind, self._withheld(query)):
                detail["withheld"] = True
            out.append((block, Retrieved(h.ref, h.score, h.trusted, {"kind": h.kind, **detail})))
        return out

    def _workspace(self, query: str) -> list[tuple[str, Retrieved]]:
        if self.db is None or self.budget.workspace_rows <= 0:
            return []
        with Session(self.db) as s:
            rows = workspace.search(s, query, self.budget.workspace_rows)
        withheld = self._withheld(query)
        return [
            (
                data_block("workspace", r.trusted, r.line[: self.budget.item_chars], ref=r.ref),
                Retrieved(
                    r.ref,
                    float(r.score),
                    r.trusted,
                    {"withheld": True} if withheld_row(r.ref, withheld) else {},
                ),
            )
            for r in rows
            if r.score > 0
        ]

    def _withheld(self, query: str) -> tuple[str, ...]:
        return self.router.route(query).withheld if self.router is not None else ()
