"""The workspace: customers, projects, drafts and tickets (the ledger is ``tables.LedgerEntry``).

These tables are authoritative. Agents read them through the functions here; every change goes
through an agent's operation, so it is proposed, approved and logged like any other action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Column, Text, func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from memory.tables import LedgerEntry, utcnow
from memory.terms import terms


class Customer(SQLModel, table=True):
    """Someone the business sells to."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=200)
    company: str = Field(default="", max_length=200)
    email: str = Field(default="", index=True, max_length=320)
    status: str = Field(default="active", max_length=16)  # lead|active|past
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    """A piece of work for a customer."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    name: str = Field(max_length=200)
    status: str = Field(default="open", max_length=16)  # open|paused|done
    due: date | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Draft(SQLModel, table=True):
    """A message or document being prepared, not yet sent."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    kind: str = Field(default="email", max_length=16)  # email|reply|post|doc
    recipient: str = Field(default="", max_length=320)  # an email address, for email and reply
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="draft", max_length=16)  # draft|sent|discarded
    created_at: datetime = Field(default_factory=utcnow)


class Ticket(SQLModel, table=True):
    """A request or problem raised by a customer; ``source`` says where it came from."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    subject: str = Field(max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="open", max_length=16)  # open|waiting|closed
    source: str = Field(default="operator", max_length=300)  # operator | email:<from> | webhook:<name>
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Row:
    """A workspace row found by a search: its reference, one line about it, and how well it matched."""

    ref: str  # customer:3, project:1, draft:2, ticket:5, ledger:9
    line: str
    score: int
    trusted: bool = True


def _like_any(columns: list[object], words: list[str]) -> list[object]:
    return [func.lower(c).contains(w) for c in columns for w in words]  # type: ignore[arg-type]


def _hits(text: str, words: list[str]) -> int:
    low = text.lower()
    return sum(1 for w in words if w in low)


def describe_customer(c: Customer) -> str:
    """Return one line about a customer."""
    who = f"{c.name} ({c.company})" if c.company else c.name
    return f"Customer #{c.id} {who} <{c.email}> [{c.status}]" + (f": {c.notes[:200]}" if c.notes else "")


def find_customers(session: Session, query: str, limit: int = 5) -> list[Customer]:
    """Return customers whose name, company or email contains any of the query's words, best first."""
    words = terms(query)
    if not words:
        return []
    cols = [Customer.name, Customer.company, Customer.email]
    found = session.exec(select(Customer).where(or_(*_like_any(cols, words))).limit(200)).all()  # type: ignore[arg-type]
    return sorted(found, key=lambda c: -_hits(f"{c.name} {c.company} {c.email}", words))[:limit]


def search(session: Session, query: str, limit: int = 5) -> list[Row]:
    """Return workspace rows (customers, projects, drafts, tickets, ledger memos) matching a query."""
    words = terms(query)
    if not words:
        return []
    found: list[tuple[str, str, bool]] = [
        (f"customer:{c.id}", describe_customer(c), True) for c in find_customers(session, query, 50)
    ]
    for p in session.exec(select(Project).where(or_(*_like_any([Project.name], words))).limit(50)).all():  # type: ignore[arg-type]
        found.append((f"project:{p.id}", f"Project #{p.id} {p.name} [{p.status}] due {p.due or '-'}", True))
    for d in session.exec(select(Draft).where(or_(*_like_any([Draft.subject], words))).limit(50)).all():  # type: ignore[arg-type]
        found.append((f"draft:{d.id}", f"Draft #{d.id} ({d.kind}, {d.status}) {d.subject}", True))
    for t in session.exec(select(Ticket).where(or_(*_like_any([Ticket.subject], words))).limit(50)).all():  # type: ignore[arg-type]
        # A ticket's words may come from a customer's email: data to read, not the operator's word.
        found.append((f"ticket:{t.id}", f"Ticket #{t.id} [{t.status}] {t.subject}", t.source == "operator"))
    ledger = select(LedgerEntry).where(or_(*_like_any([LedgerEntry.memo], words)))  # type: ignore[arg-type]
    for e in session.exec(ledger.order_by(col(LedgerEntry.id).desc()).limit(50)).all():
        found.append((f"ledger:{e.id}", f"Ledger #{e.id} {e.kind} {e.amount_cents / 100:.2f} {e.memo}", True))
    rows = [Row(ref, line, _hits(line, words), trusted) for ref, line, trusted in found]
    return sorted(rows, key=lambda r: -r.score)[:limit]
