"""The ChatOpenAI planner against a loopback fake OpenAI server: real client, real wire format."""

from __future__ import annotations

import pytest

from bot.console import ConsoleSession
from tests.fakes.openai_server import FakeOpenAI, text, tool_calls
from tests.fakes.server import serve


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: text("hello"))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tool_calls_become_actions_and_policy_denies_the_bad_ones(app_factory, fake_openai):
    fake_openai.script = lambda body: tool_calls(
        ("bookkeeping__record_expense", {"amount": "12.50", "memo": "coffee"}),
        ("bookkeeping__record_expense", {"amount": "5000000", "memo": "wire it all"}),
        ("shell__exec", {"cmd": "rm -rf /"}),
        ("bookkeeping__record_income", {"amount": "-3"}),
    )
    app = app_factory(
        # Every tool offered, not only the routed agent's (tests/graph/test_local_model.py has routing).
        settings={"openai_api_key": "sk-test", "openai_base_url": fake_openai.base_url, "coo_route_tools": False}
    )
    replies = ConsoleSession(app).send("log my coffee")

    # The model saw our tools, in OpenAI's function format, and the operator's words.
    sent = fake_openai.requests[0]
    names = {t["function"]["name"] for t in sent["tools"]}
    assert {"bookkeeping__record_expense", "bookkeeping__balance", "tasks__add_task"} <= names
    assert sent["messages"][-1] == {"role": "user", "content": "log my coffee"}

    texts = [r.text for r in replies]
    assert "Refused: amount is above the hard limit" in texts
    assert "Refused: unknown operation 'shell__exec'" in texts
    assert any(t.startswith("Refused: invalid arguments for bookkeeping.record_income") for t in texts)
    cards = [r for r in replies if r.card]
    assert len(cards) == 1 and dict(cards[0].card.fields)["Arguments"] == '{"amount":"12.50","memo":"coffee"}'

    # The call was priced from the usage the server reported.
    spent = app.engine.spend()
    assert spent["today"] == pytest.approx((120 * 0.15 + 30 * 0.60) / 1_000_000)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_model_text_reply_without_tools(app_factory, fake_openai):
    fake_openai.script = lambda body: text("Your balance question: ask me `balance`.")
    app = app_factory(settings={"openai_api_key": "sk-test", "openai_base_url": fake_openai.base_url})
    [reply] = ConsoleSession(app).send("what can you do?")
    assert reply.text == "Your balance question: ask me `balance`."
