"""Plain language through the running App: a card that states the interpretation, reads at once, "did you
mean", a plain refusal that says coo runs without a model, and no model call for a confident command."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.console import ConsoleSession
from graph.rules import RULE_MODE
from memory.tables import Run, Spend
from tests.fakes.openai_server import FakeOpenAI, text
from tests.fakes.server import serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_plain_expense_gets_a_card_that_says_what_it_understood(app_factory):
    chat = ConsoleSession(app_factory())
    [card] = chat.send("I spent $40 on printer ink")
    assert card.card is not None
    assert "Record an expense of $40.00 for printer ink" in card.text + card.card.title
    done = "\n".join(r.text for r in chat.send("approve"))
    assert "Recorded expense" in done and "$40.00 printer ink" in done
    [balance] = chat.send("what's my balance?")  # a read answers at once
    assert balance.text.startswith("Balance: -$40.00")


def test_an_amount_that_cannot_be_read_exactly_is_asked_for_never_guessed(app_factory):
    chat = ConsoleSession(app_factory())
    for line in ("spent forty dollars on ink", "spent 40,50 on lunch", "log 2 coffees 7.50"):
        replies = chat.send(line)
        assert all(r.card is None for r in replies), line
        said = replies[0].text
        assert any(w in said for w in ("Did you mean", "Refused", "Nothing was recorded")), (line, said)
    [offer] = chat.send("spent forty dollars on ink")
    assert "`expense <amount> ink`" in offer.text
    with Session(chat.app.db) as s:
        assert [r.planner for r in s.exec(select(Run).order_by(Run.created_at)).all()][-1] == "rules:offer"  # type: ignore[arg-type]


def test_a_line_that_means_nothing_is_refused_and_the_first_refusal_says_how_to_add_a_model(app_factory):
    chat = ConsoleSession(app_factory())
    [first] = chat.send("tell me a joke")
    assert first.text.startswith("I did not understand that.") and RULE_MODE in first.text
    assert "OPENAI_API_KEY" in first.text
    [second] = chat.send("what is the capital of Peru")
    assert second.text.startswith("I did not understand that.") and RULE_MODE not in second.text


def test_a_customer_named_in_the_line_picks_their_open_invoice(app_factory):
    chat = ConsoleSession(app_factory())
    chat.send("invoice Acme Corp 1200 website")
    chat.send("approve")
    [card] = chat.send("Acme Corp paid the invoice")
    assert card.card is not None, card.text
    assert "INV-" in card.text + card.card.title + str(card.card.fields)


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: text("Things look fine this week."))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


def test_with_a_model_a_confident_command_skips_the_model_and_a_question_does_not(app_factory, fake_openai):
    app = app_factory(
        settings={"openai_api_key": "sk-test", "openai_base_url": fake_openai.base_url, "coo_model": "gpt-4o"}
    )
    chat = ConsoleSession(app)
    [card] = chat.send("I spent $40 on printer ink")
    assert card.card is not None and fake_openai.requests == []
    [answer] = chat.send("how is the business doing, honestly?")
    assert answer.text == "Things look fine this week." and len(fake_openai.requests) == 1
    with Session(app.db) as s:
        runs = s.exec(select(Run).order_by(Run.created_at)).all()  # type: ignore[arg-type]
        rungs = [sp.rung for sp in s.exec(select(Spend).order_by(Spend.id)).all()]  # type: ignore[arg-type]
    assert [r.planner.split("@")[0] for r in runs] == ["rules:intent", "openai:gpt-4o"]
    assert rungs == ["rules", "primary"]


def test_an_offer_is_run_by_typing_its_number(app_factory):
    chat = ConsoleSession(app_factory())
    [offer] = chat.send("made $60 selling stickers")
    numbered = [x for x in offer.text.splitlines() if x[:1].isdigit()]
    [income] = [x for x in numbered if "`income 60.00 stickers`" in x]
    assert "Type its number to run it." in offer.text
    replies = chat.send(income.split(".")[0])
    [card] = [r for r in replies if r.card]
    assert "Record income of $60.00 from stickers" in card.text + card.card.title
    [refused] = chat.send("2")  # no offer is open any more: a bare number is not understood
    assert refused.text.startswith("I did not understand that.")
