"""Invoices and their numbers: gapless and sequential per year (``INV-2026-0001``), never reused.

A number comes from a per-year counter row bumped by one upsert (``INSERT … ON CONFLICT DO UPDATE
… RETURNING``) inside the transaction that writes the invoice: concurrent creators queue on that row
(PostgreSQL's row lock, SQLite's write lock), so two never get the same number, and a rolled-back
transaction takes its number back with it, so there are no gaps. A voided invoice keeps its number.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, func
from sqlmodel import Field, Session, SQLModel, col, select

from memory.dialect import dialect_insert
from memory.tables import utcnow
from memory.workspace import Customer

STATUSES = ("draft", "open", "paid", "void")


class InvoiceCounter(SQLModel, table=True):
    """The last invoice number handed out in a year."""

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class Invoice(SQLModel, table=True):
    """An invoice to a customer; its journal entries are the issue and (when paid) the payment."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=20)
    year: int
    seq: int
    customer: str = Field(max_length=200)
    customer_id: int | None = Field(default=None, foreign_key="customer.id")
    amount_cents: int
    memo: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    issued_on: date
    due_on: date
    status: str = Field(default="open", index=True, max_length=8)  # draft|open|paid|void
    entry_id: int | None = Field(default=None, foreign_key="ledgerentry.id")
    paid_entry_id: int | None = Field(default=None, foreign_key="ledgerentry.id")
    idempotency_key: str = Field(unique=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


def format_number(year: int, seq: int) -> str:
    """Return an invoice number, e.g. ``INV-2026-0001``."""
    return f"INV-{year}-{seq:04d}"


def next_number(session: Session, year: int) -> tuple[int, str]:
    """Take the next number of a year inside the caller's transaction and return (seq, number)."""
    table = InvoiceCounter.__table__  # type: ignore[attr-defined]
    stmt = (
        dialect_insert(session, table)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    seq = int(session.execute(stmt).scalar_one())
    return seq, format_number(year, seq)


def match_customer(session: Session, name: str) -> int | None:
    """Return the id of the workspace customer whose name or company is ``name`` (any case), if one."""
    low = name.strip().lower()
    q = select(Customer.id).where((func.lower(Customer.name) == low) | (func.lower(Customer.company) == low))
    return session.exec(q.order_by(col(Customer.id))).first()


def by_number(session: Session, number: str) -> Invoice | None:
    """Return the invoice with this number (any case)."""
    return session.exec(select(Invoice).where(Invoice.number == number.strip().upper())).first()


def open_invoices(session: Session, issued_before: date | None = None) -> list[Invoice]:
    """Return open invoices, oldest first (optionally only those issued before a day)."""
    q = select(Invoice).where(Invoice.status == "open")
    if issued_before is not None:
        q = q.where(col(Invoice.issued_on) < issued_before)
    return list(session.exec(q.order_by(col(Invoice.issued_on), col(Invoice.id))).all())
