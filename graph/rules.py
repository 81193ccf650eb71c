"""The rule-based model: a small grammar that needs no API key and costs nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

from graph.planner import Plan, PlanRequest, RawProposal

HELP = """I understand:
  expense <amount> <memo>     record money spent (asks first)
  income <amount> <memo>      record money received (asks first)
  balance                     show the ledger balance (and receivables)
  invoice <customer> <amount> <memo>   issue INV-<year>-<n> (asks first; undo voids it)
  paid INV-2026-0001 [amount] mark an invoice paid (asks first);  invoices: list open ones
  summary [YYYY-MM]           the month's income, expenses by category, net, cash, invoices
  task <text>                 add a task (asks first);  tasks: list open ones
  remember <text> / recall <query>
  email <address> <subject>: <body>
  research <url or topic>
  digest                      build today's digest now (a job; the message updates as it goes)
  reindex                     rebuild the memory index from SQL (a job)
  /budget  /status  help
At a card: approve (a) or reject (r). After an action: undo."""

_AMOUNT = r"(?P<amount>[$€£]?\d[\d,]*(?:\.\d+)?)"


def _entry(op: str) -> Callable[[re.Match[str]], RawProposal]:
    return lambda m: RawProposal(f"bookkeeping.{op}", {"amount": m["amount"], "memo": m["rest"].strip()})


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], RawProposal]]] = [
    (
        re.compile(rf"^paid\s+(?P<number>INV-\d{{4}}-\d{{4,}})(?:\s+{_AMOUNT})?\s*$", re.I),
        lambda m: RawProposal(
            "bookkeeping.mark_paid",
            {"number": m["number"].upper(), **({"amount": m["amount"]} if m["amount"] else {})},
        ),
    ),
    (
        re.compile(rf"^invoice\s+(?P<customer>.+?)\s+{_AMOUNT}(?P<rest>.*)$", re.I | re.S),
        lambda m: RawProposal(
            "bookkeeping.create_invoice",
            {"customer": m["customer"].strip(), "amount": m["amount"], "memo": m["rest"].strip()},
        ),
    ),
    (re.compile(r"^invoices$", re.I), lambda m: RawProposal("bookkeeping.list_invoices", {})),
    (
        re.compile(r"^summary(?:\s+(?P<month>\d{4}-\d{2}))?$", re.I),
        lambda m: RawProposal("bookkeeping.summary", {"month": m["month"]} if m["month"] else {}),
    ),
    (re.compile(rf"^(?:expense|spent|paid)\s+{_AMOUNT}(?P<rest>.*)$", re.I | re.S), _entry("record_expense")),
    (
        re.compile(rf"^(?:income|received|earned)\s+{_AMOUNT}(?P<rest>.*)$", re.I | re.S),
        _entry("record_income"),
    ),
    (re.compile(r"^balance\??$", re.I), lambda m: RawProposal("bookkeeping.balance", {})),
    (re.compile(r"^tasks$", re.I), lambda m: RawProposal("tasks.list_tasks", {})),
    (
        re.compile(r"^(?:task|todo)\s+(?P<text>.+)$", re.I | re.S),
        lambda m: RawProposal("tasks.add_task", {"text": m["text"].strip()}),
    ),
    (
        re.compile(r"^remember\s+(?P<text>.+)$", re.I | re.S),
        lambda m: RawProposal("knowledge.remember", {"text": m["text"].strip()}),
    ),
    (
        re.compile(r"^recall\s+(?P<q>.+)$", re.I | re.S),
        lambda m: RawProposal("knowledge.recall", {"query": m["q"].strip()}),
    ),
    (re.compile(r"^forget\s+(?P<id>\S+)$", re.I), lambda m: RawProposal("knowledge.forget", {"id": m["id"]})),
    (
        re.compile(r"^email\s+(?P<to>\S+@\S+)\s+(?P<subject>[^:]+):\s*(?P<body>.*)$", re.I | re.S),
        lambda m: RawProposal(
            "outreach.send_email", {"to": m["to"], "subject": m["subject"].strip(), "body": m["body"].strip()}
        ),
    ),
    (
        re.compile(r"^research\s+(?P<topic>.+)$", re.I | re.S),
        lambda m: RawProposal("research.research", {"topic": m["topic"].strip()}),
    ),
]


class RulePlanner:
    """Matches a line against the grammar; anything else gets help."""

    name = "rules"

    def plan(self, request: PlanRequest) -> Plan:
        """Return one proposal for a recognised line, or a reply."""
        text = request.text.strip()
        if text.lower() in {"help", "?", "/help", "/start"}:
            return Plan(reply=HELP, planner=self.name)
        for pattern, build in _RULES:
            m = pattern.match(text)
            if m:
                return Plan(proposals=[build(m)], planner=self.name)
        return Plan(reply="I did not understand that. Type `help` to see what I can do.", planner=self.name)
