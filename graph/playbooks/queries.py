"""The workspace reads a playbook's ``query`` steps may name: each returns plain values (text, numbers, lists).

A query only reads. Writes are agent operations (``op`` steps), which go through policy and approvals.
The composition root may add its own (the digest is ``bot.digest``'s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.bookkeeping.ledger_summary import render as render_summary
from agents.bookkeeping.ledger_summary import summarize
from agents.money import fmt
from memory.invoices import open_invoices
from memory.workspace import Customer


@dataclass(frozen=True)
class QueryContext:
    """What a query gets: the workspace, the time now, the operator's zone and the run's trigger."""

    db: Engine
    now: datetime
    tz: tzinfo
    trigger: Mapping[str, Any]

    @property
    def today(self) -> date:
        """Return the operator's local date."""
        return self.now.astimezone(self.tz).date()


Query = Callable[[QueryContext, dict[str, Any]], Any]


def _invoice(i: Any, email: str, today: date) -> dict[str, Any]:
    overdue = (today - i.due_on).days
    return {
        "line": f"{i.number} {i.customer} {fmt(i.amount_cents)} due {i.due_on:%Y-%m-%d}"
        + (f" (overdue {overdue} days)" if overdue > 0 else ""),
        "number": i.number,
        "customer": i.customer,
        "email": email,
        "amount": fmt(i.amount_cents),
        "amount_cents": i.amount_cents,
        "due_on": i.due_on.isoformat(),
        "days_overdue": max((today - i.due_on).days, 0),
    }


def invoices_open(ctx: QueryContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the open invoices, oldest first, each with its customer's email (empty when unknown)."""
    with Session(ctx.db) as s:
        rows = open_invoices(s)
        ids = {i.customer_id for i in rows if i.customer_id is not None}
        emails = {c.id: c.email for c in s.exec(select(Customer).where(Customer.id.in_(ids))).all()} if ids else {}  # type: ignore[union-attr]
    return [_invoice(i, emails.get(i.customer_id, ""), ctx.today) for i in rows]


def invoices_overdue(ctx: QueryContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the open invoices past their due date (with a customer email: someone to remind)."""
    return [i for i in invoices_open(ctx, args) if i["days_overdue"] > 0 and i["email"]]


def month_previous(ctx: QueryContext, args: dict[str, Any]) -> str:
    """Return the month before the local today, as ``YYYY-MM``."""
    first = ctx.today.replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def books_summary(ctx: QueryContext, args: dict[str, Any]) -> str:
    """Return a month's summary of the books (``month: YYYY-MM``; default the previous month)."""
    month = str(args.get("month") or month_previous(ctx, args))
    with Session(ctx.db) as s:
        return render_summary(summarize(s, month))


BUILTIN: dict[str, Query] = {
    "invoices.open": invoices_open,
    "invoices.overdue": invoices_overdue,
    "month.previous": month_previous,
    "books.summary": books_summary,
}
