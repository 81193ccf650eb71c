"""The bookkeeping agent: expenses, income, the balance, and reversals, as double-entry journal entries.

Expense: debit Expenses:<category>, credit Cash. Income: debit Cash, credit Revenue. Undo posts the
reversal (every line swapped). Invoices are in `agents.bookkeeping.invoicing`, the monthly summary in
`agents.bookkeeping.ledger_summary`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from agents.contract import AgentPrompt, ExecContext, Operation, Outcome, RawProposal, SideEffect, joined
from agents.money import AMOUNT_START, AmountError, Money, cents, fmt, split_amount
from agents.phrasings import BOOKKEEPING as PHRASINGS
from agents.spec import AgentSpec, Deps, HelpEntry, Rule
from memory import ledger
from memory.invoices import Invoice

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
    """Arguments of an expense or an income."""

    amount: Money = Field(description="Amount in dollars, positive, e.g. 12.50")
    memo: str = Field(default="", max_length=300, description="What it was for")


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
        )
        assert entry.id is not None
        result = EntryResult(entry_id=entry.id, amount_cents=entry.amount_cents, memo=args.memo)
        return Outcome(
            text=f"Recorded {kind} #{entry.id}: {fmt(amount)} {args.memo}".rstrip()
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


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="record_expense",
        description="Record money spent (an expense) in the ledger.",
        args=EntryArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Record an expense of {fmt(cents(a.amount))}" + joined("for", a.memo),
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
        args=EntryArgs,
        side_effect=SideEffect.REVERSIBLE,
        summarize=lambda a: f"Record income of {fmt(cents(a.amount))}" + joined("from", a.memo),
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


_AMOUNT = rf"(?P<tail>{AMOUNT_START}.*)"  # the amount and what follows; split_amount takes it apart


def _entry(op: str) -> Callable[[re.Match[str]], RawProposal]:
    def build(m: re.Match[str]) -> RawProposal:
        amount, memo = split_amount(m["tail"])
        return RawProposal(f"bookkeeping.{op}", {"amount": f"{amount}", "memo": _memo(memo)})

    return build


def _memo(rest: str) -> str:
    """Return a memo without the word that joined it to the amount ("spent 40 on ink": ``ink``)."""
    return re.sub(r"^\s*(?:on|for|from)\s+(?:(?:a|an|the)\s+)?", "", rest).strip()


def _paid(m: re.Match[str]) -> RawProposal:
    args: dict[str, Any] = {"number": m["number"].upper()}
    if m["tail"]:
        amount, rest = split_amount(m["tail"])
        if rest:
            raise AmountError(
                f"Type the amount alone after the invoice number, e.g. `paid {args['number']} 800`."
            )
        args["amount"] = f"{amount}"
    return RawProposal("bookkeeping.mark_paid", args)


def _invoice(m: re.Match[str]) -> RawProposal:
    amount, memo = split_amount(m["tail"])
    return RawProposal(
        "bookkeeping.create_invoice",
        {"customer": m["customer"].strip(), "amount": f"{amount}", "memo": _memo(memo)},
    )


RULES: tuple[Rule, ...] = (
    Rule(re.compile(rf"^paid\s+(?P<number>INV-\d{{4}}-\d{{4,}})(?:\s+{_AMOUNT})?\s*$", re.I | re.S), _paid),
    Rule(re.compile(rf"^invoice\s+(?P<customer>.+?)\s+{_AMOUNT}$", re.I | re.S), _invoice),
    Rule(re.compile(r"^invoices$", re.I), lambda m: RawProposal("bookkeeping.list_invoices", {})),
    Rule(
        re.compile(r"^summary(?:\s+(?P<month>\d{4}-\d{2}))?$", re.I),
        lambda m: RawProposal("bookkeeping.summary", {"month": m["month"]} if m["month"] else {}),
    ),
    Rule(re.compile(rf"^(?:expense|spent|paid)\s+{_AMOUNT}$", re.I | re.S), _entry("record_expense")),
    Rule(re.compile(rf"^(?:income|received|earned)\s+{_AMOUNT}$", re.I | re.S), _entry("record_income")),
    Rule(re.compile(r"^balance\??$", re.I), lambda m: RawProposal("bookkeeping.balance", {})),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "expense <amount> <memo>",
        "record money spent (asks first); 40, $40, 1,200.50, 5k; no rounding",
        ("expense 12.50 coffee", "spent 40 train", "expense 5k laptop"),
    ),
    HelpEntry(
        "income <amount> <memo>",
        "record money received (asks first)",
        ("income 300 consulting", "received 90 tip"),
    ),
    HelpEntry("balance", "the ledger balance (and receivables)", ("balance",)),
    HelpEntry(
        "invoice <customer> <amount> <memo>",
        "issue INV-<year>-<n> (asks first; undo voids it)",
        ("invoice Acme Corp 1200 website",),
    ),
    HelpEntry(
        "paid INV-2026-0001 [amount]",
        "mark an invoice paid (asks first)",
        ("paid INV-2026-0001", "paid INV-2026-0001 800"),
    ),
    HelpEntry("invoices", "list the open invoices", ("invoices",)),
    HelpEntry(
        "summary [YYYY-MM]",
        "a month's income, expenses by category, net, cash, invoices",
        ("summary", "summary 2026-11"),
    ),
)


def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the bookkeeping agent: the ledger, invoices and the monthly summary."""
    from agents.bookkeeping import invoicing, ledger_summary  # they build on this module

    return AgentSpec(
        name=AGENT,
        operations=(*OPERATIONS, *invoicing.OPERATIONS, *ledger_summary.OPERATIONS),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
        prompt=AgentPrompt(AGENT, PROMPT_VERSION, PROMPT),
    )
