"""/budget and /status, channel-neutral: who may change a budget, what the report shows, the chart."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot import commands
from bot.console import ConsoleSession, format_reply
from memory.cost_tables import BudgetCap
from tests.fakes.openai_server import FakeOpenAI, tool_calls
from tests.fakes.server import serve

OPERATOR = "slack:U_OWNER"


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: tool_calls(("bookkeeping__balance", {})))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


def caps(app) -> list[tuple[str, str, float | None]]:
    with Session(app.db) as s:
        return [(c.scope, c.period, c.usd) for c in s.exec(select(BudgetCap)).all()]


def test_a_budget_change_from_a_non_operator_is_refused(app_factory):
    settings = {"coo_operators": OPERATOR, "coo_budget_daily_usd": 5.0}
    app = app_factory(settings=settings)
    [reply] = commands.handle(app, "slack:U_STRANGER", "/budget set daily 0.01")
    assert reply.text == "Only an operator can change the budget. Nothing was changed."
    assert caps(app) == [] and app.ledger.cap("daily") == 5.0

    # An operator may, from any channel; the change overrides the setting and survives a restart.
    [reply] = commands.handle(app, OPERATOR, "/budget set daily 2.50")
    assert reply.text == "The daily budget is now $2.50 (was $5.00)."
    [reply] = commands.handle(app, "console:local", "/budget set monthly $40")
    assert reply.text == "The monthly budget is now $40.00 (was no cap)."
    app.close()
    again = app_factory(settings=settings)
    assert (again.ledger.cap("daily"), again.ledger.cap("monthly")) == (2.50, 40.0)
    [reply] = commands.handle(again, OPERATOR, "/budget set daily off")
    assert again.ledger.cap("daily") is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_budget_commands_get_the_usage(app_factory):
    app = app_factory()
    for args in ("set weekly 3", "set daily -1", "set daily lots", "raise it"):
        [reply] = commands.budget(app, "console:local", args)
        assert reply.text.startswith("Usage: /budget")
    assert caps(app) == []
    assert commands.handle(app, "console:local", "expense 3 pens") is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_agent_budget_stops_its_model_calls(app_factory, fake_openai):
    app = app_factory(
        settings={"openai_api_key": "sk-test", "openai_base_url": fake_openai.base_url, "coo_model": "gpt-4o"}
    )
    [reply] = commands.handle(app, "console:local", "/budget set daily 0 agent planner")
    assert reply.text == "The daily budget of agent planner is now $0.00 (was no cap)."
    ConsoleSession(app, "a").send("balance")
    assert fake_openai.requests == []
    assert app.ladder.now().rung == "cache"
    assert "Agent caps: planner daily $0.00" in commands.budget(app, "console:local")[0].text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_budget_report_and_status_show_spend_rungs_and_the_chart(app_factory, fake_openai):
    app = app_factory(
        settings={
            "openai_api_key": "sk-test",
            "openai_base_url": fake_openai.base_url,
            "coo_model": "gpt-4o",
            "coo_cheap_model": "gpt-4o-mini",
            "coo_budget_daily_usd": 2.5,
        }
    )
    ConsoleSession(app, "a").send("how much money do I have?")  # a read in plain words: the model plans
    ConsoleSession(app, "b").send("how much money do I have?")  # a cache hit
    [report] = ConsoleSession(app, "c").send("/budget")
    day = app.ledger.today()
    primary = (120 * 2.50 + 30 * 10.00) / 1e6
    lines = report.text.splitlines()
    assert lines[0] == f"Today ({day.isoformat()}): ${primary:.4f} of $2.50 (0%)"
    assert lines[1] == f"This month ({day:%Y-%m}): ${primary:.4f} (no cap)"
    assert lines[2] == "Ladder now: primary (gpt-4o)"
    assert f"Today by model: gpt-4o ${primary:.4f} (2 calls)" in lines
    assert "Today by rung: primary 1 · cache 1" in lines
    assert lines[-1] == f"Last 30 days: {'▁' * 29}█ (max ${primary:.4f} on {day:%m-%d})"
    # Channels that show images get the chart as a PNG; the console prints the text (the sparkline).
    assert report.image is not None and report.image.startswith(b"\x89PNG")
    assert report.image_name == f"budget-{day.isoformat()}.png"
    assert "Last 30 days: " in format_reply(report)

    [status] = ConsoleSession(app, "d").send("status")
    text = status.text
    assert "Recent runs (cost, served by):" in text
    assert f"${primary:.4f} primary" in text and "$0.0000 cache" in text
    assert f"Top spenders this month by agent: planner ${primary:.4f} (2 calls)" in text
    assert f"Top spenders this month by model: gpt-4o ${primary:.4f} (2 calls)" in text
