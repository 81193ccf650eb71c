"""The ladder against the loopback fake OpenAI server (the real ChatOpenAI client): budget, cache, errors."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlmodel import Session, select

from bot.console import ConsoleSession
from graph.ladder import Backoff
from graph.planner import PlanRequest
from memory.tables import Run, Spend
from tests.fakes.openai_server import FakeOpenAI, text, tool_calls
from tests.fakes.server import serve


def coffee(body):
    return tool_calls(("bookkeeping__record_expense", {"amount": "4.50", "memo": "coffee"}))


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=coffee)
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


def model_settings(fake, **more):
    base = {
        "openai_api_key": "sk-test",
        "openai_base_url": fake.base_url,
        "coo_model": "gpt-4o",
        "coo_cheap_model": "gpt-4o-mini",
        "coo_model_max_retries": 0,
        "coo_cheap_at": 2.0,  # spend pressure off unless a test turns it on
    }
    base.update(more)
    return base


def spend_rows(app) -> list[Spend]:
    with Session(app.db) as s:
        return list(s.exec(select(Spend).order_by(Spend.id)).all())


def estimate(app, rung: int, text: str = "log my coffee") -> float:
    planner = app.ladder.rungs[rung].planner
    return planner.estimate(planner.prompt(PlanRequest(text=text, actor="console:local"))).cost_usd


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_call_that_would_cross_the_cap_steps_down(app_factory, fake_openai):
    # Given a daily cap that the primary model's estimate would cross but the cheap model's does not...
    app = app_factory(settings=model_settings(fake_openai))
    primary_est, cheap_est = estimate(app, 0), estimate(app, 1)
    assert cheap_est < primary_est / 10
    app.ledger.set_cap("daily", primary_est / 2, by="console:local")

    # ...the run is served by the cheap model; the primary model is never called.
    [card] = ConsoleSession(app, "c1").send("log my coffee")
    assert card.card is not None and "coffee" in card.card.title
    assert fake_openai.models() == ["gpt-4o-mini"]
    [row] = spend_rows(app)
    assert (row.rung, row.model, row.input_tokens, row.output_tokens) == ("cheap", "gpt-4o-mini", 120, 30)
    assert row.cost_usd == pytest.approx((120 * 0.15 + 30 * 0.60) / 1e6)

    # When not even the cheap model fits, the rule-based model answers: the grammar keeps working.
    app.ledger.set_cap("daily", row.cost_usd + cheap_est / 2, by="console:local")
    [card] = ConsoleSession(app, "c2").send("expense 12 parking")
    assert dict(card.card.fields)["Arguments"] == '{"amount":"12.00","memo":"parking"}'
    [reply] = ConsoleSession(app, "c3").send("write a haiku about this week")
    assert "rule-based model" in reply.text and "over budget" in reply.text
    assert len(fake_openai.requests) == 1
    assert [r.rung for r in spend_rows(app)] == ["cheap", "rules", "rules"]
    assert sum(r.cost_usd for r in spend_rows(app)) <= app.ledger.cap("daily")
    assert app.ladder.now().rung == "cache"


def test_a_cache_hit_costs_nothing_and_survives_a_restart(app_factory, fake_openai):
    fake_openai.script = lambda body: text("Ask me `balance` for the balance.")
    app = app_factory(settings=model_settings(fake_openai))
    [first] = ConsoleSession(app, "a").send("what can you do?")
    assert len(fake_openai.requests) == 1

    # The same prompt (a new thread, so the same empty history) is answered from the cache.
    [second] = ConsoleSession(app, "b").send("what can you do?")
    assert second.text == first.text
    assert len(fake_openai.requests) == 1
    cached = spend_rows(app)[-1]
    assert (cached.rung, cached.input_tokens, cached.output_tokens, cached.cost_usd) == ("cache", 0, 0, 0.0)

    # After a restart the cache is still there; a different prompt is not a hit.
    app.close()
    again = app_factory(settings=model_settings(fake_openai))
    [third] = ConsoleSession(again, "c").send("what can you do?")
    assert third.text == first.text and len(fake_openai.requests) == 1
    ConsoleSession(again, "d").send("what can you do today?")
    assert len(fake_openai.requests) == 2
    assert [r.rung for r in spend_rows(again)] == ["primary", "cache", "cache", "primary"]


def test_concurrent_runs_do_not_overshoot_the_cap(app_factory, fake_openai):
    # Given a model whose real cost is close to our estimate, slow answers, and a cap for 2.5 calls...
    app = app_factory(settings=model_settings(fake_openai, coo_cheap_model=None))
    planner = app.ladder.rungs[0].planner
    request = PlanRequest(text="log my coffee", actor="console:local")
    if app.ladder.router is not None:  # the ladder offers only the routed agents' tools: estimate that call
        request = replace(request, agents=app.ladder.router.route(request.text).agents)
    est = planner.estimate(planner.prompt(request))
    fake_openai.usage = lambda body: (est.input_tokens, body["max_completion_tokens"])
    fake_openai.delay_s = 0.2
    cap = est.cost_usd * 2.5
    app.ledger.set_cap("daily", cap, by="console:local")

    # When eight runs start at once...
    n = 8
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            ConsoleSession(app, f"t{i}").send("log my coffee")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # ...the recorded spend stays within the cap plus one call's estimate, and the rest stepped down.
    assert errors == []
    rows = spend_rows(app)
    assert len(rows) == n
    assert sum(r.cost_usd for r in rows) <= cap + est.cost_usd
    paid = [r for r in rows if r.rung == "primary"]
    assert 1 <= len(paid) == len(fake_openai.requests) < n
    assert {r.rung for r in rows} - {"primary"} <= {"cache", "rules"}
    assert app.ledger.counters()["day"][1] == 0.0  # nothing left held


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_errors_step_down_and_back_off(app_factory, fake_openai, status):
    app = app_factory(settings=model_settings(fake_openai))
    now = [1000.0]
    app.ladder.backoff = Backoff(base_s=2.0, clock=lambda: now[0])
    fake_openai.fail = lambda body: status if body["model"] == "gpt-4o" else None

    # A failing primary model steps down to the cheap one, and rests.
    ConsoleSession(app, "a").send("log my coffee")
    assert [b["model"] for b in fake_openai.failures] == ["gpt-4o"]
    assert fake_openai.models() == ["gpt-4o-mini"]
    assert app.ladder.backoff.resting("primary") == 2.0
    assert app.ladder.now().rung == "cheap"

    # While it rests, it is not asked at all.
    ConsoleSession(app, "b").send("log my lunch")
    assert len(fake_openai.failures) == 1 and fake_openai.models() == ["gpt-4o-mini"] * 2

    # After the rest it is tried again; failing again doubles the rest.
    now[0] += 2.0
    ConsoleSession(app, "c").send("log my dinner")
    assert len(fake_openai.failures) == 2
    assert app.ladder.backoff.resting("primary") == 4.0

    # Recovered, it serves again and its rest is forgotten.
    fake_openai.fail = None
    now[0] += 4.0
    ConsoleSession(app, "d").send("log my breakfast")
    assert fake_openai.models()[-1] == "gpt-4o"
    assert app.ladder.backoff.resting("primary") == 0.0
    assert [r.rung for r in spend_rows(app)] == ["cheap", "cheap", "cheap", "primary"]
    assert app.ledger.counters()["day"][1] == 0.0  # failed calls hold nothing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_retry_after_from_the_server_sets_the_rest(app_factory, fake_openai):
    app = app_factory(settings=model_settings(fake_openai))
    app.ladder.backoff = Backoff(base_s=2.0, clock=lambda: 0.0)
    fake_openai.fail = lambda body: 429 if body["model"] == "gpt-4o" else None
    fake_openai.retry_after_ms = 30_000
    ConsoleSession(app, "a").send("log my coffee")
    assert app.ladder.backoff.resting("primary") == 30.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_both_models_down_falls_to_the_rules(app_factory, fake_openai):
    app = app_factory(settings=model_settings(fake_openai, coo_rules_first=False))  # the models are tried
    fake_openai.fail = lambda body: 500
    [card] = ConsoleSession(app, "a").send("expense 3 pens")
    assert card.card is not None and "pens" in card.card.title
    assert len(fake_openai.failures) == 2 and fake_openai.requests == []
    assert [r.rung for r in spend_rows(app)] == ["rules"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_spend_pressure_moves_to_the_cheap_model_before_the_cap(app_factory, fake_openai):
    # Given a cap of 1.5 primary calls and the cheap model from half of any cap on...
    app = app_factory(settings=model_settings(fake_openai, coo_cheap_at=0.5))
    planner = app.ladder.rungs[0].planner
    est = planner.estimate(planner.prompt(PlanRequest(text="log my coffee", actor="console:local")))
    fake_openai.usage = lambda body: (est.input_tokens, body["max_completion_tokens"])
    app.ledger.set_cap("daily", est.cost_usd * 1.5, by="console:local")

    ConsoleSession(app, "a").send("log my coffee")
    ConsoleSession(app, "b").send("log my lunch")
    # ...the first call is the primary model's, the second the cheap one's, and /budget says why.
    assert fake_openai.models() == ["gpt-4o", "gpt-4o-mini"]
    now = app.ladder.now()
    assert now.rung == "cheap" and now.reason.startswith("spend at ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_any_models_cached_answer_is_served_when_no_model_is_affordable(app_factory, fake_openai):
    # Given an answer cached from an earlier primary model...
    first = app_factory(settings=model_settings(fake_openai, coo_cheap_model=None))
    ConsoleSession(first, "a").send("log my coffee")
    first.close()

    # ...after switching models and spending the budget, the same prompt is answered from that cache.
    app = app_factory(settings=model_settings(fake_openai, coo_model="gpt-4.1", coo_budget_daily_usd=0.0))
    [card] = ConsoleSession(app, "b").send("log my coffee")
    assert card.card is not None and "coffee" in card.card.title
    assert fake_openai.models() == ["gpt-4o"]
    assert [(r.rung, r.model) for r in spend_rows(app)][-1] == ("cache", "gpt-4o")
    with Session(app.db) as s:
        assert s.exec(select(Run).order_by(Run.created_at.desc())).first().planner == "cache:gpt-4o"
