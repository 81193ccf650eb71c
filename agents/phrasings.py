"""What people type for each command: example phrasings beside the grammar line they stand for.

One tuple per agent (and one for the commands the channel answers), each read by its agent's spec
(``agents/<name>/``; the tasks agent keeps its own); ``agents.catalog.phrasings()`` joins them. The rule-based model (``graph.intents``) finds the intent nearest to a line by sentence
similarity to these examples, fills the command's slots from the line, and runs the filled command
through the grammar, so a phrasing never reaches an operation by another road than the grammar's.

A command is a grammar line with slots: ``{amount}`` must be found in the line, ``{memo?}`` may be
missing. The free-text slots (``memo``, ``text``, ``query``, ``title``, ``topic``, ``name``) take what
is left of the line once the other slots are taken out and the intent's ``cues`` are dropped from its
start. Examples are written as people type them, and are never the evaluation lines
(``tests/graph/intent_eval.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["write", "read", "chat"]
"""``write``: goes through its card; ``read``: answered at once; ``chat``: answered by the channel,
so the rule-based model only ever offers it ("Did you mean `undo`?")."""

FREE_SLOTS = frozenset({"memo", "text", "query", "title", "topic", "name"})
_SLOT = re.compile(r"\{(\w+)(\?)?\}")


@dataclass(frozen=True)
class Phrasing:
    """One intent: the command it stands for and how people say it.

    Attributes:
        key: The operation (``bookkeeping.record_expense``) or channel command (``chat.undo``).
        command: The grammar line with slots, e.g. ``expense {amount} {memo?}``.
        kind: Write, read or chat (see ``Kind``).
        examples: Lines people type for it.
        cues: Words that say which command it is, dropped from either end of the free text.
        words: The command's own words (``expense``, ``spent``): a line that has one (or a word one
            typo away) leans towards it.
    """

    key: str
    command: str
    kind: Kind
    examples: tuple[str, ...]
    cues: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()

    @property
    def slots(self) -> tuple[tuple[str, bool], ...]:
        """Return the command's slots as (name, required), in order."""
        return tuple((m[1], not m[2]) for m in _SLOT.finditer(self.command))


def phrasing(
    key: str, command: str, kind: Kind, examples: tuple[str, ...], cues: str = "", words: str = ""
) -> Phrasing:
    """Return a phrasing; ``cues`` and ``words`` are space-separated."""
    return Phrasing(key, command, kind, examples, frozenset(cues.split()), frozenset(words.split()))


BOOKKEEPING: tuple[Phrasing, ...] = (
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

KNOWLEDGE: tuple[Phrasing, ...] = (
    phrasing(
        "knowledge.remember",
        "remember {text}",
        "write",
        (
            "note that Jordan prefers email",
            "keep in mind the office closes at 6",
            "make a note: Northwind pays late",
            "save this: the wifi password is on the fridge",
            "don't forget Alex's birthday is in May",
            "write down that Chris likes mornings",
            "make a note that the meeting moved to Tuesday",
            "remember the supplier's phone number is 555 0100",
        ),
        "note that make a keep in mind save this remember write down jot please note: this:",
        words="remember note save",
    ),
    phrasing(
        "knowledge.recall",
        "recall {query}",
        "read",
        (
            "what do I know about Jordan",
            "what does Alex like",
            "what does Jordan prefer for meetings",
            "what did I save about the supplier",
            "look up my notes on Northwind",
            "do you remember what Chris said",
            "search memory for pricing",
            "what did I note about the lease",
            "find my notes about taxes",
        ),
        "what do does did i you know about remember look up search find my notes note on for memory saved "
        "said tell me the anything in",
        words="recall notes memory",
    ),
    phrasing(
        "knowledge.forget",
        "forget {id}",
        "write",
        ("forget note 12", "delete memory #4", "remove remembered item 7", "drop note number 3"),
        words="forget delete",
    ),
)

OUTREACH: tuple[Phrasing, ...] = (
    phrasing(
        "outreach.send_email",
        "email {email} {subject}: {body}",
        "write",
        (
            "send an email to jordan@example.org saying hello",
            "write to alex@acme.com about the invoice",
            "mail bob@example.com: see you tomorrow",
            "email chris@example.net that the report is ready",
        ),
        words="email mail",
    ),
)

RESEARCH: tuple[Phrasing, ...] = (
    phrasing(
        "research.research",
        "research {topic}",
        "write",
        (
            "look into https://example.org/pricing",
            "read this page https://example.com/blog",
            "find out about competitor pricing",
            "research the market for design tools",
            "dig into what others charge for logos",
            "can you research the best accounting software",
        ),
        "look into read this page find out about research dig what the on",
        words="research",
    ),
)

CALENDAR: tuple[Phrasing, ...] = (
    phrasing(
        "calendar.upcoming",
        "agenda {days?}",
        "read",
        (
            "what's on my calendar",
            "what meetings do I have this week",
            "show my schedule",
            "am I free tomorrow",
            "upcoming events",
            "what's coming up in the next 3 days",
        ),
        words="agenda calendar upcoming",
    ),
    phrasing(
        "calendar.create_event",
        "event {date} {clock} {title}",
        "write",
        (
            "schedule a call with Jordan tomorrow at 3pm",
            "book a meeting on 2026-12-10 at 10:00",
            "put lunch with Alex on my calendar friday at noon",
            "add an event today at 16:30 review",
            "set up a meeting monday 9am planning",
        ),
        "schedule book put set up add an a on my calendar event at for",
        words="schedule meeting event",
    ),
)

CRM: tuple[Phrasing, ...] = (
    phrasing(
        "crm.list_customers",
        "customers",
        "read",
        ("show my customers", "list all clients", "who are my clients", "customer list"),
        words="customers clients",
    ),
    phrasing(
        "crm.add_customer",
        "customer add {name} <{email}>",
        "write",
        (
            "add a customer Bob Smith bob@smith.io",
            "new client Jordan jordan@example.org",
            "add Chris chris@example.net as a customer",
        ),
        "add a new customer client as",
        words="customer client",
    ),
    phrasing(
        "crm.pipeline",
        "pipeline",
        "read",
        ("show the pipeline", "how are my deals going", "which deals are open", "sales pipeline"),
        words="pipeline deals",
    ),
)

DRAFTS: tuple[Phrasing, ...] = (
    phrasing(
        "drafts.list_drafts",
        "drafts",
        "read",
        ("show my drafts", "what drafts do I have", "list drafts"),
        words="drafts",
    ),
)

CHANNEL: tuple[Phrasing, ...] = (
    phrasing("chat.help", "help", "read", ("what can you do", "how does this work", "what commands are there")),
    phrasing(
        "chat.undo",
        "undo",
        "chat",
        ("undo that", "take that back", "oops, revert the last one"),
        words="undo revert",
    ),
    phrasing("chat.approve", "approve", "chat", ("yes do it", "go ahead", "ok approved"), words="approve"),
    phrasing("chat.reject", "reject", "chat", ("no don't", "cancel that card", "nope, reject it"), words="reject"),
    phrasing(
        "chat.pending",
        "pending",
        "chat",
        ("what is waiting for me", "which cards are open"),
        words="pending waiting",
    ),
    phrasing(
        "chat.status",
        "/status",
        "chat",
        ("what's running", "is anything stuck", "what failed"),
        words="status running stuck",
    ),
    phrasing(
        "chat.budget",
        "/budget",
        "chat",
        ("how much have I spent on AI", "what's my model budget"),
        words="budget",
    ),
    phrasing(
        "chat.digest",
        "digest",
        "chat",
        ("send me the digest now", "morning briefing please"),
        words="digest briefing",
    ),
)
