"""The bookkeeping agent: expenses, income, the balance, and reversals."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import select

from agents.contract import ExecContext, Operation, Outcome, SideEffect
from agents.money import Money, cents, fmt
from memory.tables import LedgerEntry

AGENT = "bookkeeping"


class EntryArgs(BaseModel):
    """Arguments of an expense or an income."""

    amount: Money = Field(description="Amount in dollars, positive, e.g. 12.50")
    memo: str = Field(default="", max_length=300, description="What it was for")


class NoArgs(BaseModel):
    """No arguments."""


def balance_cents(ctx: ExecContext) -> int:
    """Return the sum of all entries."""
    total = ctx.session.exec(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))).one()
    return int(total)


def _record(kind: str, sign: int) -> Any:
    def run(ctx: ExecContext, args: EntryArgs) -> Outcome:
        entry = LedgerEntry(
            kind=kind,
            amount_cents=sign * cents(args.amount),
            memo=args.memo,
            idempotency_key=ctx.idempotency_key,
        )
        ctx.session.add(entry)
        ctx.session.flush()
        return Outcome(
            text=f"Recorded {kind} #{entry.id}: {fmt(cents(args.amount))} {args.memo}".rstrip()
            + f". Balance {fmt(balance_cents(ctx))}.",
            payload={"entry_id": entry.id, "amount_cents": entry.amount_cents, "memo": args.memo},
            compensation={"entry_id": entry.id},
        )

    return run


def _reverse(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    original = ctx.session.get(LedgerEntry, int(payload["entry_id"]))
    if original is None:
        raise LookupError(f"ledger entry {payload['entry_id']} not found")
    rev = LedgerEntry(
        kind="reversal",
        amount_cents=-original.amount_cents,
        memo=f"reversal of #{original.id}",
        reverses=original.id,
        idempotency_key=ctx.idempotency_key,
    )
    ctx.session.add(rev)
    ctx.session.flush()
    return Outcome(
        text=f"Reversed entry #{original.id} with #{rev.id}. Balance {fmt(balance_cents(ctx))}.",
        payload={"entry_id": rev.id, "reverses": original.id, "amount_cents": rev.amount_cents},
    )


def _balance(ctx: ExecContext, _args: NoArgs) -> Outcome:
    total = balance_cents(ctx)
    return Outcome(text=f"Balance: {fmt(total)}.", payload={"balance_cents": total})


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="record_expense",
        description="Record money spent (an expense) in the ledger.",
        args=EntryArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: (
            f"Record an expense of {fmt(cents(a.amount))}" + (f" for {a.memo}" if a.memo else "")
        ),
        changes=lambda a: (
            f"Ledger: new entry {fmt(-cents(a.amount))}; balance goes down by {fmt(cents(a.amount))}"
        ),
        execute=_record("expense", -1),
        compensate=_reverse,
        amount_cents=lambda a: cents(a.amount),
    ),
    Operation(
        agent=AGENT,
        name="record_income",
        description="Record money received (income) in the ledger.",
        args=EntryArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: (
            f"Record income of {fmt(cents(a.amount))}" + (f" from {a.memo}" if a.memo else "")
        ),
        changes=lambda a: (
            f"Ledger: new entry +{fmt(cents(a.amount))}; balance goes up by {fmt(cents(a.amount))}"
        ),
        execute=_record("income", 1),
        compensate=_reverse,
        amount_cents=lambda a: cents(a.amount),
    ),
    Operation(
        agent=AGENT,
        name="balance",
        description="Show the current ledger balance.",
        args=NoArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: "Show the balance",
        changes=lambda a: "nothing",
        execute=_balance,
    ),
]
