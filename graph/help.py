"""What `help` says: one entry per command, each with example lines that the grammar (or the channel) accepts.

The text is rendered from these entries, and a test holds them to the grammar both ways: every rule of
the rule-based model matches an example here, and every example of a ``rule`` entry matches a rule. A
command added to the grammar without a help entry fails that test, so help cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Where = Literal["rule", "chat"]
"""``rule``: the rule-based model's grammar (graph/rules.py); ``chat``: answered by the channel itself
(decisions, undo, retry, jobs, slash commands, leaving the console)."""


@dataclass(frozen=True)
class Entry:
    """One line of help.

    Attributes:
        usage: The command's form, e.g. ``expense <amount> <memo>``.
        what: What it does, in a few words.
        examples: Real lines it accepts (tests run them through the grammar).
        where: Who answers it (see ``Where``).
    """

    usage: str
    what: str
    examples: tuple[str, ...]
    where: Where = "rule"


ENTRIES: tuple[Entry, ...] = (
    Entry(
        "expense <amount> <memo>",
        "record money spent (asks first); 40, $40, 1,200.50, 5k; no rounding",
        ("expense 12.50 coffee", "spent 40 train", "expense 5k laptop"),
    ),
    Entry(
        "income <amount> <memo>",
        "record money received (asks first)",
        ("income 300 consulting", "received 90 tip"),
    ),
    Entry("balance", "the ledger balance (and receivables)", ("balance",)),
    Entry(
        "invoice <customer> <amount> <memo>",
        "issue INV-<year>-<n> (asks first; undo voids it)",
        ("invoice Acme Corp 1200 website",),
    ),
    Entry(
        "paid INV-2026-0001 [amount]",
        "mark an invoice paid (asks first)",
        ("paid INV-2026-0001", "paid INV-2026-0001 800"),
    ),
    Entry("invoices", "list the open invoices", ("invoices",)),
    Entry(
        "summary [YYYY-MM]",
        "a month's income, expenses by category, net, cash, invoices",
        ("summary", "summary 2026-11"),
    ),
    Entry(
        "task <text> [due]",
        "add a task; a due day/time at the end gets a reminder here (asks first)",
        (
            "task call Priya",
            "todo order ink",
            "task call Priya tomorrow",
            "task send deck friday 3pm",
            "task renew domain on 2026-12-10",
        ),
    ),
    Entry("tasks", "the open tasks, overdue and due today first", ("tasks",)),
    Entry(
        "done <n> (complete, finish)",
        "mark a task done (asks first; undo reopens it)",
        ("done 1", "complete 2", "finish #3", "task 1 done", "mark 2 as done"),
    ),
    Entry("reopen <n>", "open a finished task again (asks first)", ("reopen 1",)),
    Entry("delete <n>", "delete a task (asks first; undo brings it back)", ("delete 1", "delete task 2")),
    Entry("remember <text>", "keep a note in memory (asks first)", ("remember Priya prefers mornings",)),
    Entry("recall <query>", "find what was remembered", ("recall Priya",)),
    Entry("forget <id>", "forget a remembered item (asks first)", ("forget 12",)),
    Entry(
        "email <address> <subject>: <body>",
        "send an email (asks first; Undo until it goes out)",
        ("email dana@example.org Invoice: attached",),
    ),
    Entry(
        "research <url or topic>",
        "read pages in the background (asks first); a topic alone: from memory",
        ("research https://example.org/pricing", "research competitor pricing"),
    ),
    Entry("next / agenda [days]", "the calendar's next events (default: 7 days)", ("next", "agenda 3")),
    Entry(
        "event <YYYY-MM-DD|today|tomorrow> <HH:MM> [45m|1h30] <title> [@ place]",
        "add an event (asks first)",
        ("event tomorrow 9:00 30m Dentist @ Main St",),
    ),
    Entry(
        "webhook <target> <json>",
        "POST a JSON object to a configured target (asks first)",
        ('webhook crm {"a": 1}',),
    ),
    Entry(
        "customer add <name> <email> [company]",
        "add a customer (asks first)",
        ("customer add Bob <bob@bob.io> Bob Inc",),
    ),
    Entry("customers", "list the customers", ("customers",)),
    Entry("customer <number or name>", "show a customer", ("customer Bob",)),
    Entry(
        "customer <n> <name|company|email|status|notes> <value>",
        "change one field (asks first)",
        ("customer 1 status active",),
    ),
    Entry("deal <customer> <amount> <title>", "add a deal (asks first)", ("deal Bob 5000 website",)),
    Entry("deal <n> <lead|qualified|proposal|won|lost>", "move a deal (asks first)", ("deal 1 won",)),
    Entry("pipeline", "the deals by stage", ("pipeline", "deals")),
    Entry(
        "log <call|email|note> <customer>: <text>",
        "record contact activity (asks first)",
        ("log call Bob: wants a quote",),
    ),
    Entry(
        "draft <email|reply> <address> <subject>: <body>",
        "write a draft (asks first)",
        ("draft email dana@example.org Invoice: attached",),
    ),
    Entry("draft post <title>: <body>", "draft a post (asks first)", ("draft post Launch: we are live",)),
    Entry(
        "draft <n> <to|subject|body>: <value>",
        "change a draft (asks first)",
        ("draft 1 subject: Invoice 42",),
    ),
    Entry("drafts", "list the drafts", ("drafts",)),
    Entry("send draft <n>", "send a draft as an email (asks first)", ("send draft 1",)),
    Entry("digest", "build the digest now (a job; its message updates as it goes)", ("digest",), "chat"),
    Entry("reindex", "rebuild the memory index from SQL (a job)", ("reindex",), "chat"),
    Entry(
        "approve [N] / reject [N]",
        "decide a card (a / r); with several waiting, say which",
        ("approve", "a 2", "reject 2", "r"),
        "chat",
    ),
    Entry("pending", "the cards waiting for a decision, numbered", ("pending",), "chat"),
    Entry("undo", "take back the last action that can be undone", ("undo",), "chat"),
    Entry("retry", "run the last failed action again", ("retry",), "chat"),
    Entry(
        "/status  /budget  /runs",
        "what runs, waits and failed; spend; recent runs",
        ("/status", "/budget", "/runs"),
        "chat",
    ),
    Entry("help", "this list", ("help",), "chat"),
    Entry("quit", "leave the console", ("quit",), "chat"),
)


PLAIN = (
    "Plain words work too (\"I spent $40 on printer ink\", \"what's my balance?\"): a change is shown on"
    " its card, as I understood it, before anything happens; when I am not sure, I ask \"did you mean\"."
)


def help_text(entries: tuple[Entry, ...] = ENTRIES) -> str:
    """Return the help message: every command, its form and what it does."""
    width = min(max(len(e.usage) for e in entries), 40)
    lines = ["I understand:"]
    for e in entries:
        if len(e.usage) > width:
            lines += [f"  {e.usage}", f"  {'':{width}}  {e.what}"]
        else:
            lines.append(f"  {e.usage:{width}}  {e.what}")
    lines.append(PLAIN)
    return "\n".join(lines)


HELP = help_text()
