"""The monthly summary of the books, computed from the journal lines (a read)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from agents.bookkeeping.journal import AGENT, PROMPT_VERSION
from agents.contract import ExecContext, Operation, Outcome, SideEffect
from agents.money import fmt
from memory import ledger
from memory.invoices import Invoice
from memory.tables import LedgerEntry, utcnow


class SummaryArgs(BaseModel):
    """Which month: ``YYYY-MM``, or the current one."""

    month: str | None = Field(default=None, description="e.g. 2026-11")

    @field_validator("month")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError("month must be YYYY-MM, e.g. 2026-11")
        return value


class MonthSummary(BaseModel):
    """The summary's numbers (its output schema), all in cents."""

    month: str
    income_cents: int
    expenses_cents: dict[str, int]
    net_cents: int
    cash_cents: int
    open_invoices: list[str]
    open_cents: int
    overdue_invoices: list[str]
    overdue_cents: int
    prompt_version: str = PROMPT_VERSION


JL = ledger.JournalLine


def _bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _movements(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Return each account's debits minus credits over entries dated in [start, end)."""
    rows = session.exec(
        select(JL.account, func.sum(JL.debit_cents - JL.credit_cents))
        .join(LedgerEntry, col(LedgerEntry.id) == JL.entry_id)
        .where(col(LedgerEntry.created_at) >= start, col(LedgerEntry.created_at) < end)
        .group_by(col(JL.account))
    ).all()
    return {account: int(total) for account, total in rows}


def summarize(session: Session, month: str, today: date | None = None) -> MonthSummary:
    """Compute one month's summary: accrual income and expenses, Cash at month end, open invoices.

    An invoice counts as open at month end when it was issued by then and is neither void nor paid by
    an entry dated before then; it is overdue when its due day is before the month's end (or today).
    """
    start, end = _bounds(month)
    moves = _movements(session, start, end)
    income = -moves.get(ledger.REVENUE, 0)
    expenses = {
        a.split(":", 1)[1]: v for a, v in sorted(moves.items()) if a.startswith("expenses:") and v != 0
    }
    paid_before = select(LedgerEntry.id).where(col(LedgerEntry.created_at) < end)
    open_rows = session.exec(
        select(Invoice)
        .where(col(Invoice.issued_on) < end.date(), Invoice.status != "void")
        .where(or_(col(Invoice.paid_entry_id).is_(None), col(Invoice.paid_entry_id).not_in(paid_before)))
        .order_by(col(Invoice.number))
    ).all()
    as_of = min(end.date(), today or utcnow().date())
    overdue = [i for i in open_rows if i.due_on < as_of]
    return MonthSummary(
        month=month,
        income_cents=income,
        expenses_cents=expenses,
        net_cents=income - sum(expenses.values()),
        cash_cents=ledger.account_balance(session, ledger.CASH, before=end),
        open_invoices=[i.number for i in open_rows],
        open_cents=sum(i.amount_cents for i in open_rows),
        overdue_invoices=[i.number for i in overdue],
        overdue_cents=sum(i.amount_cents for i in overdue),
    )


def render(s: MonthSummary) -> str:
    """Render a summary for chat."""
    cats = ", ".join(f"{k} {fmt(v)}" for k, v in s.expenses_cents.items()) or "none"
    lines = [
        f"Summary {s.month}:",
        f"  Income {fmt(s.income_cents)}",
        f"  Expenses {fmt(sum(s.expenses_cents.values()))} ({cats})",
        f"  Net {fmt(s.net_cents)}",
        f"  Cash at month end {fmt(s.cash_cents)}",
        f"  Open invoices {len(s.open_invoices)} ({fmt(s.open_cents)})"
        + (
            f"; overdue {len(s.overdue_invoices)} ({fmt(s.overdue_cents)}): {', '.join(s.overdue_invoices)}"
            if s.overdue_invoices
            else ""
        ),
    ]
    return "\n".join(lines)


def _summary(ctx: ExecContext, args: SummaryArgs) -> Outcome:
    month = args.month or f"{utcnow():%Y-%m}"
    s = summarize(ctx.session, month)
    return Outcome(text=render(s), payload=s.model_dump())


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="summary",
        description="Summarise a month of the books: income, expenses by category, net, cash, invoices.",
        args=SummaryArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: f"Summarise {a.month or 'this month'}",
        changes=lambda a: "nothing",
        execute=_summary,
    ),
]
