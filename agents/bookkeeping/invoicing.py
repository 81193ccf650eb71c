"""Invoices in the bookkeeping agent: issue one, mark it paid, list the open ones.

Issuing posts debit Accounts receivable, credit Revenue; undo voids the invoice (its number is never
reused) and reverses that entry. Paying posts debit Cash, credit Accounts receivable; undo reverses it
and reopens the invoice. A paid invoice cannot be voided until its payment is undone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from agents.bookkeeping.journal import AGENT, PROMPT_VERSION, NoArgs, balance_cents, reverse
from agents.contract import ExecContext, Operation, Outcome, SideEffect, joined
from agents.errors import Missing, NotReversible, Refusal
from agents.money import Money, cents, fmt
from memory import invoices, ledger
from memory.invoices import Invoice
from memory.tables import LedgerEntry, utcnow

NUMBER_PATTERN = r"^(?i:INV)-\d{4}-\d{4,}$"


class InvoiceArgs(BaseModel):
    """Arguments of a new invoice."""

    customer: str = Field(min_length=1, max_length=200, description="Who is billed")
    amount: Money = Field(description="Amount in dollars, positive, e.g. 1200")
    memo: str = Field(default="", max_length=300, description="What it is for")
    due_days: int = Field(default=30, ge=0, le=365, description="Days until it is due")


class PaidArgs(BaseModel):
    """Arguments of marking an invoice paid."""

    number: str = Field(pattern=NUMBER_PATTERN, description="The invoice number, e.g. INV-2026-0001")
    amount: Money | None = Field(default=None, description="The amount received; must be the invoice's")


class InvoiceResult(BaseModel):
    """What an invoice operation records in the event log (its output schema)."""

    invoice_id: int
    number: str
    status: str
    amount_cents: int
    entry_id: int | None = None
    prompt_version: str = PROMPT_VERSION


def _result(inv: Invoice, entry_id: int | None) -> dict[str, Any]:
    assert inv.id is not None
    return InvoiceResult(
        invoice_id=inv.id,
        number=inv.number,
        status=inv.status,
        amount_cents=inv.amount_cents,
        entry_id=entry_id,
    ).model_dump()


def _create(ctx: ExecContext, args: InvoiceArgs) -> Outcome:
    s = ctx.session
    inv = s.exec(select(Invoice).where(Invoice.idempotency_key == ctx.idempotency_key)).first()
    if inv is None:  # the same key twice is one invoice, one number
        today = utcnow().date()
        seq, number = invoices.next_number(s, today.year)
        amount = cents(args.amount)
        entry = ledger.post_entry(
            s,
            kind="invoice",
            memo=f"{number} {args.customer} {args.memo}".strip(),
            lines=[ledger.dr(ledger.AR, amount), ledger.cr(ledger.REVENUE, amount)],
            idempotency_key=ctx.idempotency_key,
        )
        inv = Invoice(
            number=number,
            year=today.year,
            seq=seq,
            customer=args.customer,
            customer_id=invoices.match_customer(s, args.customer),
            amount_cents=amount,
            memo=args.memo,
            issued_on=today,
            due_on=today + timedelta(days=args.due_days),
            status="open",
            entry_id=entry.id,
            idempotency_key=ctx.idempotency_key,
        )
        s.add(inv)
        s.flush()
    return Outcome(
        text=f"Issued {inv.number} to {inv.customer}: {fmt(inv.amount_cents)} {inv.memo}".rstrip()
        + f", due {inv.due_on:%Y-%m-%d}.",
        payload=_result(inv, inv.entry_id),
        compensation={"invoice_id": inv.id},
    )


def _void(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    inv = ctx.session.get(Invoice, int(payload["invoice_id"]))
    if inv is None:
        raise Missing(f"invoice {payload['invoice_id']} not found")
    if inv.status == "paid":
        raise NotReversible(f"{inv.number} is paid: undo the payment first, then void it.")
    rev = reverse(ctx, int(inv.entry_id or 0))
    inv.status = "void"
    ctx.session.add(inv)
    ctx.session.flush()
    return Outcome(
        text=f"Voided {inv.number} (the number is not reused); reversed entry #{rev.reverses} with #{rev.entry_id}.",
        payload=_result(inv, rev.entry_id),
    )


def _payable(s: Session, args: PaidArgs) -> Invoice:
    """Return the invoice a payment is for, if it exists and the amount (when given) is its amount."""
    inv = invoices.by_number(s, args.number)
    if inv is None:
        raise Missing(f"there is no invoice {args.number.upper()} (type `invoices` for the open ones)")
    if args.amount is not None and cents(args.amount) != inv.amount_cents:
        raise Refusal(f"{inv.number} is for {fmt(inv.amount_cents)}, not {fmt(cents(args.amount))}")
    return inv


def _check_paid(s: Session, args: PaidArgs) -> None:
    """Refuse before the card: no such invoice, a different amount, or not open."""
    inv = _payable(s, args)
    if inv.status != "open":
        raise Refusal(
            f"{inv.number} is {'already paid' if inv.status == 'paid' else inv.status}, not open"
        )


def _paid(ctx: ExecContext, args: PaidArgs) -> Outcome:
    s = ctx.session
    inv = _payable(s, args)
    prior = s.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == ctx.idempotency_key)).first()
    if inv.status != "open" and (prior is None or prior.id != inv.paid_entry_id):
        raise Refusal(
            f"{inv.number} is {'already paid' if inv.status == 'paid' else inv.status}, not open"
        )
    entry = ledger.post_entry(
        s,
        kind="payment",
        memo=f"{inv.number} paid by {inv.customer}",
        lines=[ledger.dr(ledger.CASH, inv.amount_cents), ledger.cr(ledger.AR, inv.amount_cents)],
        idempotency_key=ctx.idempotency_key,
    )
    inv.status, inv.paid_entry_id = "paid", entry.id
    s.add(inv)
    s.flush()
    return Outcome(
        text=f"Marked {inv.number} paid: {fmt(inv.amount_cents)} from {inv.customer}. Balance {fmt(balance_cents(ctx))}.",
        payload=_result(inv, entry.id),
        compensation={"invoice_id": inv.id, "entry_id": entry.id},
    )


def _unpay(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    inv = ctx.session.get(Invoice, int(payload["invoice_id"]))
    if inv is None:
        raise Missing(f"invoice {payload['invoice_id']} not found")
    rev = reverse(ctx, int(payload["entry_id"]))
    inv.status, inv.paid_entry_id = "open", None
    ctx.session.add(inv)
    ctx.session.flush()
    return Outcome(
        text=f"Reopened {inv.number}; reversed entry #{rev.reverses} with #{rev.entry_id}."
        f" Balance {fmt(balance_cents(ctx))}.",
        payload=_result(inv, rev.entry_id),
    )


def _list(ctx: ExecContext, _args: NoArgs) -> Outcome:
    rows = invoices.open_invoices(ctx.session)
    if not rows:
        return Outcome(text="No open invoices.", payload={"open": []})
    today = utcnow().date()
    lines = [
        f"{i.number} {i.customer} {fmt(i.amount_cents)} due {i.due_on:%Y-%m-%d}"
        + (" (overdue)" if i.due_on < today else "")
        for i in rows
    ]
    total = sum(i.amount_cents for i in rows)
    return Outcome(
        text=f"Open invoices ({len(rows)}, {fmt(total)}):\n" + "\n".join(lines),
        payload={"open": [i.number for i in rows]},
    )


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="create_invoice",
        description="Issue an invoice to a customer (numbered INV-<year>-<seq>); undo voids it.",
        args=InvoiceArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Invoice {a.customer} {fmt(cents(a.amount))}" + joined("for", a.memo),
        changes=lambda a: (
            f"Invoices: a new open invoice with the next number, due in {a.due_days} days; "
            f"Ledger: debit Accounts receivable, credit Revenue {fmt(cents(a.amount))}"
        ),
        execute=_create,
        compensate=_void,
        amount_cents=lambda a: cents(a.amount),
    ),
    Operation(
        agent=AGENT,
        name="mark_paid",
        description="Mark an open invoice paid when its money has arrived.",
        args=PaidArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: (
            f"Mark {a.number.upper()} paid" + (f" ({fmt(cents(a.amount))})" if a.amount else "")
        ),
        changes=lambda a: (
            f"Invoices: {a.number.upper()} becomes paid; Ledger: debit Cash, credit Accounts receivable"
        ),
        execute=_paid,
        compensate=_unpay,
        precheck=_check_paid,
        amount_cents=lambda a: cents(a.amount) if a.amount is not None else None,
    ),
    Operation(
        agent=AGENT,
        name="list_invoices",
        description="List the open invoices.",
        args=NoArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: "List open invoices",
        changes=lambda a: "nothing",
        execute=_list,
    ),
]
