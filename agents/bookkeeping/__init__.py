"""The bookkeeping agent: the journal (expenses, income, balance), invoices, and the monthly summary.

Its spec: the operations of ``journal``, ``invoicing`` and ``ledger_summary``, its grammar lines, help,
phrasings and prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agents.bookkeeping import invoicing, journal, ledger_summary
from agents.bookkeeping.journal import AGENT, OPERATIONS, PROMPT, PROMPT_VERSION
from agents.contract import AgentPrompt, RawProposal
from agents.money import AMOUNT_START, AmountError, split_amount
from agents.phrasings import Phrasing, phrasing
from agents.spec import AgentSpec, Deps, HelpEntry, Rule

__all__ = ["AGENT", "HELP", "OPERATIONS", "PROMPT", "PROMPT_VERSION", "RULES", "spec"]

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
        "record money spent (asks first); 40, $40, 1,200.50, 5k; a day at the end dates it",
        ("expense 12.50 coffee", "spent 40 train yesterday", "expense 5k laptop"),
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

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "bookkeeping.record_expense",
        "expense {amount} {memo?}",
        "write",
        (
            "I spent 25 dollars on lunch",
            "spent $12 on coffee",
            "log an expense of 80 for train tickets",
            "paid 30 for the domain",
            "expense hosting 15",
            "record 200 spent on a new monitor",
            "bought paper for 9.99",
            "add expense 45 software subscription",
            "I paid $60 for office supplies",
            "charge 19 to expenses for stamps",
            "cost me 35 for parking",
        ),
        "i we spent spend paid pay bought buy log logged add record expense expenses an a of for on to "
        "was it cost me charge charged dollars bucks new just had",
        words="spent spend expense expenses bought cost log",
    ),
    phrasing(
        "bookkeeping.record_income",
        "income {amount} {memo?}",
        "write",
        (
            "I received 500 from a client",
            "got paid 1200 for consulting",
            "income 300 workshop",
            "earned $90 in tips",
            "record income of 2000 for the retainer",
            "a customer sent me 750",
            "add revenue 400 from the course",
            "made 150 selling prints",
            "deposit of 800 from consulting",
        ),
        "i we received receive got get paid earned earn made make income revenue record add an a of for "
        "from in sent me deposit selling sold payment recieved",
        words="income received earned revenue",
    ),
    phrasing(
        "bookkeeping.balance",
        "balance",
        "read",
        (
            "what's my balance",
            "how much money do I have",
            "show me the balance",
            "how much cash is in the bank",
            "current balance please",
            "what is left in the account",
            "how are my finances",
        ),
        words="balance cash",
    ),
    phrasing(
        "bookkeeping.create_invoice",
        "invoice {customer} {amount} {memo?}",
        "write",
        (
            "invoice Northwind 1200 for the website",
            "bill Contoso 800 for design work",
            "send an invoice to Fabrikam for 500",
            "charge Jordan 300 for the workshop",
            "create an invoice for Northwind of 2000",
            "make an invoice for Tailspin 450 consulting",
        ),
        "invoice bill charge send create make new an a to for of please",
        words="invoice bill charge",
    ),
    phrasing(
        "bookkeeping.mark_paid",
        "paid {number} {amount?}",
        "write",
        (
            "INV-2026-0003 was paid",
            "Northwind paid their invoice",
            "mark invoice INV-2026-0001 as paid",
            "the invoice INV-2026-0002 has been settled",
            "Contoso settled the bill",
            "received payment for INV-2026-0004",
            "Contoso paid the invoice",
        ),
        "",
        words="settled",
    ),
    phrasing(
        "bookkeeping.list_invoices",
        "invoices",
        "read",
        (
            "show my invoices",
            "which invoices are open",
            "list unpaid invoices",
            "who still owes me money",
            "outstanding invoices",
            "what invoices haven't been paid",
        ),
        words="invoices unpaid outstanding owes",
    ),
    phrasing(
        "bookkeeping.summary",
        "summary {month?}",
        "read",
        (
            "monthly summary",
            "how did I do this month",
            "profit and loss for november",
            "give me the numbers for last month",
            "what did I earn and spend this month",
            "month report",
            "summary for october",
        ),
        words="summary report profit",
    ),
)


def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the bookkeeping agent: the ledger, invoices and the monthly summary."""
    return AgentSpec(
        name=AGENT,
        operations=(*journal.operations(deps.tz, deps.clock), *invoicing.OPERATIONS, *ledger_summary.OPERATIONS),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
        prompt=AgentPrompt(AGENT, PROMPT_VERSION, PROMPT),
    )
