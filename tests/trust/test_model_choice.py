"""Model choice by override rate: the cheap model plans once its overrides are no worse, and steps back up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from bot import commands
from bot.console import ConsoleSession
from graph.trust_rules import model_choice
from memory.tables import Spend
from memory.trust import Observation
from tests.fakes.openai_server import FakeOpenAI, tool_calls
from tests.fakes.server import serve
from tests.trust.month import START

CONSOLE = "console:local"


def obs(
    i: int, rung: str, outcome: str = "approved", kind: str = "bookkeeping.record_expense"
) -> Observation:
    return Observation(kind, START + timedelta(minutes=i), outcome, run_id=f"{rung}{i}", rung=rung)  # type: ignore[arg-type]


def test_the_cheap_model_is_chosen_only_when_its_overrides_are_no_worse():
    primary = [obs(i, "primary", "edited" if i % 10 == 0 else "approved") for i in range(30)]  # 10%
    good_cheap = [obs(100 + i, "cheap", "edited" if i % 8 == 0 else "approved") for i in range(30)]  # 13%
    bad_cheap = [obs(100 + i, "cheap", "rejected" if i % 4 == 0 else "approved") for i in range(30)]  # 27%
    assert model_choice(primary + good_cheap).cheap  # within the 5-point margin
    assert not model_choice(primary + bad_cheap).cheap
    assert not model_choice(primary + good_cheap[:9]).cheap  # too few cheap runs to judge
    assert not model_choice(good_cheap).cheap  # nothing to compare with
    # Per agent: another agent's history does not count.
    assert not model_choice(primary + good_cheap, "tasks").cheap
    # Only the last 30 runs count: old overrides age out.
    late = [obs(200 + i, "cheap") for i in range(30)]
    assert model_choice(primary + bad_cheap + late).cheap


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(
        script=lambda body: tool_calls(("bookkeeping__record_expense", {"amount": "4.50", "memo": "coffee"}))
    )
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_ladder_plans_on_the_cheap_model_once_it_earned_it_and_steps_back_up(app_factory, fake_openai):
    settings = {
        "openai_api_key": "sk-test",
        "openai_base_url": fake_openai.base_url,
        "coo_model": "gpt-4o",
        "coo_cheap_model": "gpt-4o-mini",
        "coo_model_max_retries": 0,
        "coo_cheap_at": 2.0,
        "coo_cache_ttl_s": 0,
        "coo_trust_streak": 0,
    }
    app = app_factory(settings=settings)
    app.trust.choice_ttl_s = 0  # read the history before every call
    n = iter(range(1000))

    def run(approve: bool) -> str:
        [card] = [x for x in ConsoleSession(app, f"c{next(n)}").send("log my coffee") if x.card is not None]
        approval = next(b.value for b in card.card.buttons if b.action == "approve")
        app.engine.decide(approval, approve, CONSOLE)
        with Session(app.db) as s:
            return s.exec(select(Spend).order_by(col(Spend.id).desc())).first().rung

    assert [run(approve) for approve in (True, False, True)] == ["primary"] * 3  # primary: 1 in 3 overridden
    app.ladder.cheap_at = 0.0  # the budget forces the cheap model for a while
    assert {run(True) for _ in range(10)} == {"cheap"}
    app.ladder.cheap_at = 2.0  # the budget is easy again, but the cheap model did no worse
    assert run(True) == "cheap"
    assert fake_openai.models()[-1] == "gpt-4o-mini"
    now = app.ladder.now()
    assert now.rung == "cheap" and "cheap model overrides 0% vs primary 33%" in now.reason
    [shown] = commands.command(app, "console:local", CONSOLE, "/trust")
    assert "Model choice: cheap model for bookkeeping (cheap model overrides 0% vs primary 33%)" in shown.text
    # Its overrides rise: once 7 of its 18 runs were rejected (39%, over 33% + 5), the primary plans again.
    assert [run(False) for _ in range(8)] == ["cheap"] * 7 + ["primary"]
