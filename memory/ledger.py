"""Double-entry bookkeeping: the chart of accounts, journal lines, and posting that must balance.

A journal entry is a ``tables.LedgerEntry`` header (kind, memo, what it reverses, its idempotency key)
with two or more ``JournalLine`` rows. Every entry is written through `post_entry`, which refuses one
whose debits and credits differ; a guard on every session flush refuses lines that would leave an
entry unbalanced and any change to or deletion of a line, whoever writes them; `verify_ledger` checks
the whole ledger. A reversal is a new entry
with every line swapped, pointing at the original, which stays.

The header's ``amount_cents`` keeps its old meaning for readers that predate the lines: the signed
change to Cash (income positive, expense negative, zero for an invoice issued).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, event, func
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, col, select

from memory.errors import UnbalancedEntry, UnknownAccount
from memory.tables import LedgerEntry, utcnow

CASH = "cash"
AR = "ar"
REVENUE = "revenue"
EQUITY = "equity"
EXPENSE_CATEGORIES = ("meals", "travel", "software", "other")

# code → (name, type); a debit raises an asset or an expense, a credit raises revenue or equity.
ACCOUNTS: dict[str, tuple[str, str]] = {
    CASH: ("Cash", "asset"),
    AR: ("Accounts receivable", "asset"),
    REVENUE: ("Revenue", "revenue"),
    EQUITY: ("Owner's equity", "equity"),
    **{f"expenses:{c}": (f"Expenses:{c}", "expense") for c in EXPENSE_CATEGORIES},
}

_CATEGORY_WORDS = {
    "meals": {"coffee", "lunch", "dinner", "breakfast", "meal", "meals", "food", "restaurant", "drinks"},
    "travel": {"flight", "train", "taxi", "uber", "hotel", "travel", "airbnb", "bus", "fuel", "parking"},
    "software": {"software", "saas", "subscription", "github", "aws", "hosting", "license", "domain", "app"},
}


def expense_account(memo: str) -> str:
    """Return the expense account for a memo: a ``#tag`` naming a category wins, then its words."""
    words = [w.lower() for w in re.findall(r"#?[\w-]+", memo)]
    for w in words:
        if w.startswith("#") and w[1:] in EXPENSE_CATEGORIES:
            return f"expenses:{w[1:]}"
    for w in words:
        for category, vocabulary in _CATEGORY_WORDS.items():
            if w.lstrip("#") in vocabulary:
                return f"expenses:{category}"
    return "expenses:other"


class JournalLine(SQLModel, table=True):
    """One side of a journal entry: an account and a debit or a credit in cents."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="ledgerentry.id", index=True)
    account: str = Field(index=True, max_length=64)
    debit_cents: int = 0
    credit_cents: int = 0


@dataclass(frozen=True)
class Line:
    """A line to post: debit or credit (exactly one positive) on an account."""

    account: str
    debit: int = 0
    credit: int = 0


def dr(account: str, amount: int) -> Line:
    """Return a debit line."""
    return Line(account, debit=amount)


def cr(account: str, amount: int) -> Line:
    """Return a credit line."""
    return Line(account, credit=amount)


def check_lines(lines: list[Line]) -> None:
    """Refuse lines that do not make a balanced entry.

    Raises:
        UnknownAccount: A line names an account not in the chart.
        UnbalancedEntry: Debits differ from credits, a line is empty or negative, or there are fewer
            than two lines.
    """
    for line in lines:
        if line.account not in ACCOUNTS:
            raise UnknownAccount(line.account)
        if line.debit < 0 or line.credit < 0 or (line.debit > 0) == (line.credit > 0):
            raise UnbalancedEntry("each line must have exactly one positive debit or credit")
    debits, credits = sum(x.debit for x in lines), sum(x.credit for x in lines)
    if len(lines) < 2 or debits != credits:
        raise UnbalancedEntry(f"debits {debits} != credits {credits}")


def post_entry(
    session: Session,
    *,
    kind: str,
    memo: str,
    lines: list[Line],
    idempotency_key: str,
    reverses: int | None = None,
    at: datetime | None = None,
) -> LedgerEntry:
    """Write a balanced journal entry once per idempotency key and return its header.

    Raises:
        UnbalancedEntry: The lines do not balance (nothing is written).
        UnknownAccount: A line names an account not in the chart.
    """
    check_lines(lines)
    prior = session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)).first()
    if prior is not None:
        return prior
    cash = sum(x.debit - x.credit for x in lines if x.account == CASH)
    entry = LedgerEntry(
        kind=kind,
        amount_cents=cash,
        memo=memo,
        reverses=reverses,
        idempotency_key=idempotency_key,
        created_at=at or utcnow(),
    )
    session.add(entry)
    session.flush()
    assert entry.id is not None
    for x in lines:
        session.add(
            JournalLine(entry_id=entry.id, account=x.account, debit_cents=x.debit, credit_cents=x.credit)
        )
    session.flush()
    return entry


def lines_of(session: Session, entry_id: int) -> list[Line]:
    """Return an entry's lines."""
    rows = session.exec(
        select(JournalLine).where(JournalLine.entry_id == entry_id).order_by(col(JournalLine.id))
    )
    return [Line(r.account, r.debit_cents, r.credit_cents) for r in rows.all()]


def reverse_entry(
    session: Session, entry_id: int, idempotency_key: str, at: datetime | None = None
) -> LedgerEntry:
    """Post the compensating entry of one entry once: every line swapped, pointing at the original.

    Raises:
        LookupError: No such entry.
    """
    original = session.get(LedgerEntry, entry_id)
    if original is None:
        raise LookupError(f"ledger entry {entry_id} not found")
    # An entry is reversed once (``reverses`` is unique): a second compensation, even under a fresh
    # key, gets the reversal already posted instead of a constraint error.
    done = session.exec(select(LedgerEntry).where(LedgerEntry.reverses == original.id)).first()
    if done is not None:
        return done
    swapped = [Line(x.account, debit=x.credit, credit=x.debit) for x in lines_of(session, entry_id)]
    return post_entry(
        session,
        kind="reversal",
        memo=f"reversal of #{original.id}",
        lines=swapped,
        idempotency_key=idempotency_key,
        reverses=original.id,
        at=at,
    )


def account_balance(session: Session, account: str, before: datetime | None = None) -> int:
    """Return an account's debits minus credits (optionally only entries dated before a time)."""
    q = select(func.coalesce(func.sum(JournalLine.debit_cents - JournalLine.credit_cents), 0)).where(
        JournalLine.account == account
    )
    if before is not None:
        q = q.join(LedgerEntry, col(LedgerEntry.id) == JournalLine.entry_id).where(
            col(LedgerEntry.created_at) < before
        )
    return int(session.exec(q).one())


def verify_ledger(session: Session) -> list[str]:
    """Return every way the ledger fails to balance (empty when it balances).

    Checks each entry's lines and the totals, and that the header's cash amount agrees with its lines.
    """
    problems: list[str] = []
    per_entry = session.exec(
        select(
            JournalLine.entry_id,
            func.sum(JournalLine.debit_cents),
            func.sum(JournalLine.credit_cents),
        ).group_by(col(JournalLine.entry_id))
    ).all()
    for entry_id, debits, credits in per_entry:
        if debits != credits:
            problems.append(f"entry #{entry_id}: debits {debits} != credits {credits}")
    cash = func.sum(
        case((col(JournalLine.account) == CASH, JournalLine.debit_cents - JournalLine.credit_cents), else_=0)
    )
    headers = session.exec(
        select(LedgerEntry.id, LedgerEntry.amount_cents, cash)
        .join(JournalLine, col(JournalLine.entry_id) == LedgerEntry.id)
        .group_by(col(LedgerEntry.id), col(LedgerEntry.amount_cents))
        .order_by(col(LedgerEntry.id))
    ).all()
    for header_id, amount, in_cash in headers:
        if int(in_cash) != amount:
            problems.append(f"entry #{header_id}: header amount {amount} disagrees with its Cash lines")
    totals = session.exec(
        select(
            func.coalesce(func.sum(JournalLine.debit_cents), 0),
            func.coalesce(func.sum(JournalLine.credit_cents), 0),
        )
    ).one()
    if totals[0] != totals[1]:
        problems.append(f"total debits {totals[0]} != total credits {totals[1]}")
    return problems


@event.listens_for(OrmSession, "before_flush")
def _guard_lines(session: OrmSession, _context: object, _instances: object) -> None:
    """Refuse a flush that would unbalance an entry or rewrite a line (lines are append-only).

    An entry's lines are written together, in one flush, as `post_entry` does.
    """
    if any(isinstance(o, JournalLine) for o in (*session.dirty, *session.deleted)):
        raise UnbalancedEntry("journal lines are append-only: post a reversal instead")
    new: dict[int, list[JournalLine]] = {}
    for o in session.new:
        if isinstance(o, JournalLine):
            new.setdefault(o.entry_id, []).append(o)
    for entry_id, rows in new.items():
        with session.no_autoflush:
            existing = session.execute(
                select(func.count()).select_from(JournalLine).where(JournalLine.entry_id == entry_id)
            ).scalar_one()
        if existing:
            raise UnbalancedEntry(f"entry #{entry_id} already has its lines")
        check_lines([Line(r.account, r.debit_cents, r.credit_cents) for r in rows])
