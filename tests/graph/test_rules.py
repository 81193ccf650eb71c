from __future__ import annotations

import pytest

from graph.planner import PlanRequest
from graph.rules import RulePlanner


def plan(text: str):
    return RulePlanner().plan(PlanRequest(text=text, actor="console:local"))


@pytest.mark.parametrize(
    ("line", "key", "args"),
    [
        (
            "expense 12.50 coffee with Dana",
            "bookkeeping.record_expense",
            {"amount": "12.50", "memo": "coffee with Dana"},
        ),
        (
            "income $1,200 ACME invoice 7",
            "bookkeeping.record_income",
            {"amount": "1200.00", "memo": "ACME invoice 7"},
        ),
        ("balance", "bookkeeping.balance", {}),
        ("task call Sam", "tasks.add_task", {"text": "call Sam"}),
        ("remember Dana likes oat milk", "knowledge.remember", {"text": "Dana likes oat milk"}),
        ("recall Dana", "knowledge.recall", {"query": "Dana"}),
        (
            "email dana@example.com Hello: see you",
            "outreach.send_email",
            {"to": "dana@example.com", "subject": "Hello", "body": "see you"},
        ),
        ("research https://example.com", "research.research", {"topic": "https://example.com"}),
        ("next", "calendar.upcoming", {}),
        ("What's next?", "calendar.upcoming", {}),
        ("agenda 3 days", "calendar.upcoming", {"days": 3}),
        (
            "event 2026-12-03 14:00 45m Call with Dana",
            "calendar.create_event",
            {"title": "Call with Dana", "start": "2026-12-03 14:00", "duration_minutes": 45},
        ),
        (
            "event tomorrow 9:00 1h30 Deep work @ Home office",
            "calendar.create_event",
            {
                "title": "Deep work",
                "start": "tomorrow 09:00",
                "duration_minutes": 90,
                "location": "Home office",
            },
        ),
        (
            "meeting today at 16.30 Review",
            "calendar.create_event",
            {"title": "Review", "start": "today 16:30", "duration_minutes": 60},
        ),
    ],
)
def test_grammar(line, key, args):
    [p] = plan(line).proposals
    assert (p.key, p.arguments) == (key, args)


def test_help_and_nonsense():
    assert "expense <amount> <memo>" in plan("help").reply
    assert plan("make me a sandwich").proposals == []
    assert "help" in plan("make me a sandwich").reply


def test_an_agent_that_is_not_set_up_is_refused_with_what_to_set():
    from agents.catalog import default_registry
    from agents.errors import UnknownOperation

    registry = default_registry()
    try:
        registry.propose("calendar.upcoming", {}, run_id="r", index=0)
    except UnknownOperation as exc:
        assert "COO_CALDAV_URL" in str(exc) and "COO_CALENDAR_ICS" in str(exc)
    else:
        raise AssertionError("calendar.upcoming must be refused without a calendar")
    try:
        registry.propose("nothing.here", {}, run_id="r", index=0)
    except UnknownOperation as exc:
        assert str(exc) == "unknown operation 'nothing.here'"


def test_webhooks_without_targets_say_what_to_set():
    from agents.catalog import default_registry
    from agents.errors import UnknownOperation

    try:
        default_registry().propose("webhooks.post", {"target": "crm", "payload": {}}, run_id="r", index=0)
    except UnknownOperation as exc:
        assert "COO_WEBHOOKS" in str(exc)
    else:
        raise AssertionError("webhooks.post must be refused without targets")


@pytest.mark.parametrize(
    ("line", "key", "args"),
    [
        ("expense 5k laptop", "bookkeeping.record_expense", {"amount": "5000.00", "memo": "laptop"}),
        ("spent 1.2k flights", "bookkeeping.record_expense", {"amount": "1200.00", "memo": "flights"}),
        ("expense 40 usd lunch", "bookkeeping.record_expense", {"amount": "40.00", "memo": "lunch"}),
        (
            "invoice Dana Lee 1,200 audit",
            "bookkeeping.create_invoice",
            {"customer": "Dana Lee", "amount": "1200.00", "memo": "audit"},
        ),
        ("paid INV-2026-0002 $800", "bookkeeping.mark_paid", {"number": "INV-2026-0002", "amount": "800.00"}),
        ("deal Bob 5k website", "crm.add_deal", {"customer": "Bob", "value": "5000.00", "title": "website"}),
        ("customer add Bob bob@bob.io", "crm.add_customer", {"name": "Bob", "email": "bob@bob.io"}),
        (
            "customer add Bob Smith bob@bob.io Acme Inc",
            "crm.add_customer",
            {"name": "Bob Smith", "email": "bob@bob.io", "company": "Acme Inc"},
        ),
        ("customer add Sam Lee <sam@lee.io>", "crm.add_customer", {"name": "Sam Lee", "email": "sam@lee.io"}),
    ],
)
def test_amounts_and_emails_as_people_type_them(line, key, args):
    [proposal] = plan(line).proposals
    assert (proposal.key, proposal.arguments) == (key, args)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("expense 1e308 x", "'1e308' is scientific notation"),
        ("expense €40 train", "The books are in USD, so '€40' cannot be recorded"),
        ("expense 40 EUR train", "The books are in USD"),
        ("expense 12.345 x", "'12.345' has more than two decimals"),
        ("income 1,20 tip", "commas in the wrong places"),
        ("invoice Acme 0 logo", "'0' is zero"),
        ("paid INV-2026-0002 500 thanks", "Type the amount alone"),
        ("deal Bob 5m website", "'5m' is not an amount"),
        ("expense lunch 40", "put the amount where it belongs, like `expense 40 lunch`"),
        ("invoice Acme website", "like `invoice Acme 1200 website`"),
        ("received a tip", "like `income 300 consulting`"),
    ],
)
def test_amounts_that_could_be_misread_are_refused_before_any_card(line, why):
    answer = plan(line)
    assert (
        answer.proposals == [] and answer.reply.startswith("Nothing was recorded: ") and why in answer.reply
    )


@pytest.mark.parametrize("line", ["hi", "Hello!", "hey coo", "good morning", "Hi there :)", "morning"])
def test_a_greeting_is_welcomed_with_lines_to_try(line):
    got = plan(line)
    assert got.proposals == [] and got.reply.startswith("Hi, I am coo")
    assert "did not understand" not in got.reply


@pytest.mark.parametrize("line", ["thanks", "Thank you!", "ok thanks", "thx", "cheers", "thanks a lot coo"])
def test_thanks_gets_a_short_reply(line):
    assert plan(line).reply.startswith("You're welcome")


@pytest.mark.parametrize("line", ["hi Dana, the invoice is late", "thanks for nothing, refund me 40", "hello world app"])
def test_a_line_that_only_starts_like_small_talk_is_not_small_talk(line):
    assert not plan(line).reply.startswith(("Hi, I am coo", "You're welcome"))


def test_every_line_the_welcome_suggests_runs_as_it_is():
    from graph.rules import parses
    from graph.smalltalk import TRY

    assert all(parses(line) for line in TRY)
