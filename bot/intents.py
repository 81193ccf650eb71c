"""Build the rule-based model with plain language: the intent index, and slots read against the workspace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine as SqlEngine
from sqlmodel import Session, col, select

from bot.settings import Settings
from graph.intents import IntentIndex
from graph.rules import RulePlanner
from graph.slots import SlotContext
from graph.understand import Understander
from memory.invoices import Invoice
from memory.knowledge.embedders import Embedder, OpenAIEmbedder, UseEmbedder
from memory.workspace import Customer

MAX_NAMES = 2000  # customers matched by name in a line; beyond that, names are typed as they are


def workspace_slots(db: SqlEngine, tz: ZoneInfo) -> Callable[[], SlotContext]:
    """Return a SlotContext factory: now in ``tz``; customers and open invoices read when a slot asks."""

    def customers() -> Sequence[str]:
        with Session(db) as s:
            names = s.exec(select(Customer.name).limit(MAX_NAMES)).all()
            billed = s.exec(select(Invoice.customer).where(Invoice.status == "open").distinct()).all()
        return list(dict.fromkeys([*names, *billed]))

    def open_invoices(name: str) -> Sequence[str]:
        with Session(db) as s:
            rows = s.exec(
                select(Invoice.number)
                .where(Invoice.status == "open", col(Invoice.customer).ilike(name))
                .limit(3)
            ).all()
        return list(rows)

    return lambda: SlotContext(now=datetime.now(tz), customers=customers, open_invoices=open_invoices)


def build_rules(settings: Settings, db: SqlEngine, embedder: Embedder) -> RulePlanner:
    """Return the rule-based model: the grammar, then intents (unless COO_INTENTS is off).

    The intents use the embedded sentence encoder even when memory uses an embeddings endpoint: routing
    a line must cost nothing and need no network.
    """
    explain = not settings.model_configured
    if not settings.coo_intents:
        return RulePlanner(explain_mode=explain)
    local = UseEmbedder() if isinstance(embedder, OpenAIEmbedder) else embedder
    index = IntentIndex(local, cache_dir=settings.coo_data_dir / "intents")
    understander = Understander(index, workspace_slots(db, ZoneInfo(settings.coo_timezone)))
    return RulePlanner(understander, explain_mode=explain)
