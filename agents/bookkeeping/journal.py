"""The bookkeeping agent's journal: expenses, income, the balance, and reversals, as double-entry entries.

Expense: debit Expenses:<category>, credit Cash. Income: debit Cash, credit Revenue. Undo posts the
reversal (every line swapped). Invoices are in `agents.bookkeeping.invoicing`, the monthly summary in
`agents.bookkeeping.ledger_summary`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer, model_validator
from sqlalchemy import func
from sqlmodel import Session, select

from agents.contract import ExecContext, Operation, Outcome, SideEffect, joined
from agents.dates import DateError, take_past_day
from agents.money import Money, cents, fmt
from memory import ledger
from memory.invoices import Invoice
from memory.tables import utcnow

AGENT = "bookkeeping"
PROMPT_VERSION = "bookkeeping-2026-12-01.1"
PROMPT = """You keep the books of a one-person company in double entry. Record an expense as money
spent (categories: meals, travel, software, other; a #tag picks one), income as money received,
invoice a customer for work, mark an invoice paid when its money arrives. Amounts are in dollars."""


class EntryResult(BaseModel):
    """What a posting records in the event log (the output schema of expense, income and undo)."""

    entry_id: int
    amount_cents: int
    memo: str = ""
    reverses: int | None = None
    prompt_version: str = PROMPT_VERSION


class EntryArgs(BaseModel):
    """Arguments of an expense or an income; a day at the end of the memo (``ink yesterday``) is taken off it.

    The day is read when the action is proposed, so the card, the approval and the entry all name the
    same day, however late the approval comes. Without a day, the entry is dated when it is recorded.
    """

    tz: ClassVar[tzinfo] = UTC
    clock: ClassVar[Callable[[], datetime]] = staticmethod(utcnow)  # type: ignore[assignment]

    amount: Money = Field(description="Amount in dollars, positive, e.g. 12.50")
    memo: str = Field(default="", max_length=300, description="What it was for")
    on: date | None = Field(
        default=None, description="The day the money moved (YYYY-MM-DD), if not today; never after today"
    )

    @model_validator(mode="before")
    @classmethod
    def _day_from_memo(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("on"), str) and not data["on"].strip():
            data = {**data, "on": None}  # an edit form's empty field: no day
        if isinstance(data, dict) and data.get("on") is None and isinstance(data.get("memo"), str):
            day, rest = take_past_day(data["memo"], cls.clock().astimezone(cls.tz).date())
            if day is not None:
                return {**data, "memo": rest, "on": day}
        return data

    @model_validator(mode="after")
    def _not_ahead(self) -> EntryArgs:
        if self.on is not None and self.on > type(self).clock().astimezone(self.tz).date():
            raise DateError(f"{self.on:%Y-%m-%d} is after today: record money when it has moved.")
        return self

    @model_serializer(mode="wrap")
    def _without_no_day(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # No day given: the arguments stay {amount, memo}, as every card and stored action had them.
        data: dict[str, Any] = handler(self)
        if data.get("on") is None:
            data.pop("on", None)
        return data

    def dated(self) -> datetime | None:
        """Return when the entry is dated: noon of its day in the operator's zone, or None (now)."""
        return None if self.on is None else datetime.combine(self.on, time(12), self.tz).astimezone(UTC)

    def day_text(self) -> str:
        """Return `` on Thu 3 Dec`` for an entry with a day, else nothing."""
        return "" if self.on is None else f" on {self.on:%a} {self.on.day} {self.on:%b}"


class NoArgs(BaseModel):
    """No arguments."""


def balance_cents(ctx: ExecContext) -> int:
    """Return the balance: what is in Cash."""
    return ledger.account_balance(ctx.session, ledger.CASH)


def receivables(session: Session) -> tuple[int, int]:
    """Return (cents, count) of open invoices."""
    total, count = session.exec(
        select(func.coalesce(func.sum(Invoice.amount_cents), 0), func.count()).where(Invoice.status == "open")
    ).one()
    return int(total), int(count)


def _lines(kind: str, amount: int, memo: str) -> list[ledger.Line]:
    if kind == "expense":
        return [ledger.dr(ledger.expense_account(memo), amount), ledger.cr(ledger.CASH, amount)]
    return [ledger.dr(ledger.CASH, amount), ledger.cr(ledger.REVENUE, amount)]


def _record(kind: str) -> Any:
    def run(ctx: ExecContext, args: EntryArgs) -> Outcome:
        amount = cents(args.amount)
        entry = ledger.post_entry(
            ctx.session,
            kind=kind,
            memo=args.memo,
            lines=_lines(kind, amount, args.memo),
            idempotency_key=ctx.idempotency_key,
            at=args.dated(),
        )
        assert entry.id is not None
        result = EntryResult(entry_id=entry.id, amount_cents=entry.amount_cents, memo=args.memo)
        return Outcome(
            text=f"Recorded {kind} #{entry.id}: {fmt(amount)} {args.memo}".rstrip()
            + args.day_text()
            + f". Balance {fmt(balance_cents(ctx))}.",
            payload=result.model_dump(),
            compensation={"entry_id": entry.id},
        )

    return run


def reverse(ctx: ExecContext, entry_id: int) -> EntryResult:
    """Post the reversal of one entry under the context's idempotency key."""
    rev = ledger.reverse_entry(ctx.session, entry_id, ctx.idempotency_key)
    assert rev.id is not None
    return EntryResult(entry_id=rev.id, amount_cents=rev.amount_cents, memo=rev.memo, reverses=entry_id)


def _reverse(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    result = reverse(ctx, int(payload["entry_id"]))
    return Outcome(
        text=f"Reversed entry #{result.reverses} with #{result.entry_id}. Balance {fmt(balance_cents(ctx))}.",
        payload=result.model_dump(),
    )


def _balance(ctx: ExecContext, _args: NoArgs) -> Outcome:
    total = balance_cents(ctx)
    ar, count = receivables(ctx.session)
    text = f"Balance: {fmt(total)}."
    if count:
        text += f" Receivables: {fmt(ar)} ({count} open invoice{'s' if count != 1 else ''})."
    return Outcome(text=text, payload={"balance_cents": total, "receivables_cents": ar})


def operations(tz: tzinfo = UTC, clock: Callable[[], datetime] = utcnow) -> list[Operation[Any]]:
    """Return the journal's operations, reading days (``ink yesterday``) in ``tz`` against ``clock``."""

    class Args(EntryArgs):
        pass

    Args.tz = tz
    Args.clock = staticmethod(clock)  # type: ignore[assignment]
    Args.__name__ = "EntryArgs"
    return [
        Operation(
            agent=AGENT,
            name="record_expense",
            description="Record money spent (an expense) in the ledger.",
            args=Args,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Record an expense of {fmt(cents(a.amount))}" + joined("for", a.memo) + a.day_text(),
            changes=lambda a: (
                f"Ledger: debit {ledger.ACCOUNTS[ledger.expense_account(a.memo)][0]}, credit Cash"
                f" {fmt(cents(a.amount))}; balance goes down by {fmt(cents(a.amount))}"
            ),
            execute=_record("expense"),
            compensate=_reverse,
            amount_cents=lambda a: cents(a.amount),
        ),
        Operation(
            agent=AGENT,
            name="record_income",
            description="Record money received (income) in the ledger.",
            args=Args,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: f"Record income of {fmt(cents(a.amount))}" + joined("from", a.memo) + a.day_text(),
            changes=lambda a: (
                f"Ledger: debit Cash, credit Revenue {fmt(cents(a.amount))}; balance goes up by {fmt(cents(a.amount))}"
            ),
            execute=_record("income"),
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


OPERATIONS: list[Operation[Any]] = operations()
"""The journal's operations on UTC and the wall clock (the spec builds them with the operator's)."""

