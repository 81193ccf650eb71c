"""Local and broken model endpoints: the model gets its tools, generation is bounded, and an endpoint that
answers unusably steps down to the rules with the cause in one plain sentence (never a traceback)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.console import ConsoleSession
from bot.doctor import check_model
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI, text, tool_calls
from tests.fakes.server import serve

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: text("hello"))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "local",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
    }


def broken_server(kind: str) -> Starlette:
    """An endpoint that answers every completion in one unusable way."""
    requests: list[dict[str, Any]] = []

    async def completions(request: Request) -> Response:
        requests.append(await request.json())
        if kind == "400-context":
            err = {
                "message": "Requested tokens (4412) exceed context window of 2048",
                "type": "invalid_request_error",
            }
            return JSONResponse({"error": err}, status_code=400)
        if kind == "html":
            return HTMLResponse("<html><body><h1>Welcome to nginx!</h1></body></html>")
        if kind == "wrong-shape":
            return JSONResponse({"result": "ok", "text": "hi"})
        if kind == "malformed-json":  # cut off mid-body, as a proxy that dropped the connection leaves it
            return Response('{"id": "chatcmpl-1", "choices": [{"message": {"role": "assist', media_type="application/json")
        if kind == "empty":
            return JSONResponse(_completion({"role": "assistant", "content": ""}))
        raise AssertionError(kind)

    async def models(request: Request) -> Response:
        if kind == "html":
            return HTMLResponse("<html>hello</html>")
        if kind == "wrong-shape":
            return JSONResponse({"models": "all"})
        return JSONResponse({"object": "list", "data": [{"id": "local", "object": "model"}]})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )
    app.state.requests = requests
    return app


@SQLITE
def test_a_local_model_gets_its_tools_a_token_cap_and_costs_nothing(app_factory, fake_openai):
    fake_openai.script = lambda body: tool_calls(
        ("bookkeeping__record_expense", {"amount": "40", "memo": "printer ink"})
    )
    app = app_factory(
        settings={
            "openai_base_url": fake_openai.base_url,
            "coo_model": "smollm2",
            "coo_model_local": True,
            "coo_rules_first": False,  # what the model is sent: every line goes to it
        }
    )
    replies = ConsoleSession(app).send("I bought printer ink for 40")
    sent = fake_openai.requests[0]
    # llama.cpp drops every tool without tool_choice, and ignores max_completion_tokens.
    assert sent["tool_choice"] == "auto" and sent["tools"]
    assert sent["max_tokens"] == app.settings.coo_max_output_tokens
    assert [r for r in replies if r.card]
    assert app.engine.spend()["today"] == 0.0  # a model on the operator's own hardware is free


@SQLITE
def test_a_remote_model_is_priced_and_not_sent_max_tokens(app_factory, fake_openai):
    fake_openai.script = lambda body: text("Hi.")
    app = app_factory(settings={"openai_api_key": "sk-x", "openai_base_url": fake_openai.base_url})
    ConsoleSession(app).send("which tasks are due this week?")  # routed to tasks: its tools go along
    sent = fake_openai.requests[0]
    assert "max_tokens" not in sent and sent["max_completion_tokens"] == app.settings.coo_max_output_tokens
    assert sent["tool_choice"] == "auto"
    assert app.engine.spend()["today"] > 0


@SQLITE
def test_html_escaped_model_text_is_unescaped_once(app_factory, fake_openai):
    fake_openai.script = lambda body: text("It&#39;s done &amp; dusted &lt;3")
    app = app_factory(settings={"openai_api_key": "sk-x", "openai_base_url": fake_openai.base_url})
    session = ConsoleSession(app)
    [reply] = session.send("tell me something nice")
    assert reply.text == "It's done & dusted <3"
    session.send("and now?")
    history = fake_openai.requests[1]["messages"]
    assert {"role": "assistant", "content": "It's done & dusted <3"} in history


@SQLITE
@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("400-context", "longer than the model's context"),
        ("html", "not a chat completion"),
        ("wrong-shape", "not a chat completion"),
        ("malformed-json", "not a chat completion"),
        ("empty", "answered nothing"),
    ],
)
def test_an_unusable_answer_falls_back_to_the_rules_with_the_cause(app_factory, kind, cause):
    server = broken_server(kind)
    with serve(server) as url:
        app = app_factory(
            settings={
                "openai_base_url": url + "/v1",
                "coo_model": "local",
                "coo_model_local": True,
                "coo_rules_first": False,  # the command goes to the broken model first
            }
        )
        session = ConsoleSession(app)
        replies = session.send("expense 40 printer ink")
        texts = [r.text for r in replies]
        # The exact command still works: the rules made the card.
        cards = [r for r in replies if r.card]
        assert len(cards) == 1 and "40" in cards[0].text
        [note] = [t for t in texts if t.startswith("(Answered by the rule-based model")]
        assert cause in note and "Traceback" not in note and "Error" not in note
        # A local endpoint fails fast: one request, no retries; the broken rung then rests.
        assert len(server.state.requests) == 1
        session.send("balance")
        assert len(server.state.requests) == 1


@SQLITE
def test_a_base_url_without_v1_says_so(app_factory):
    with serve(broken_server("400-context")) as url:
        app = app_factory(
            settings={
                "openai_base_url": url,
                "coo_model": "local",
                "coo_model_local": True,
                "coo_rules_first": False,
            }
        )
        replies = ConsoleSession(app).send("balance")
    notes = [r.text for r in replies if "rule-based" in r.text]
    assert notes and "404" in notes[0] and "/v1" in notes[0]
    assert any("Balance" in r.text or "balance" in r.text.lower() for r in replies)


@SQLITE
def test_exact_commands_never_reach_a_broken_model(app_factory):
    server = broken_server("html")
    with serve(server) as url:
        app = app_factory(
            settings={"openai_base_url": url + "/v1", "coo_model": "local", "coo_model_local": True}
        )
        session = ConsoleSession(app)
        cards = [r for r in session.send("expense 40 printer ink") if r.card]
        balance = session.send("balance")
    assert len(cards) == 1 and "$40.00" in cards[0].text
    assert any("Balance" in r.text for r in balance)
    assert server.state.requests == []  # the grammar answered: no model call, and no note about one


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("html", "not JSON"),
        ("wrong-shape", "not a chat completion"),
        ("malformed-json", "not a chat completion"),
        ("400-context", "context"),
        ("empty", "tool call"),
    ],
)
def test_doctor_fails_on_an_endpoint_that_cannot_plan(tmp_path, kind, detail):
    with serve(broken_server(kind)) as url, httpx.Client() as client:
        s = make_settings(tmp_path, openai_base_url=url + "/v1", coo_model="local", coo_model_local=True)
        check = check_model(s, client)
    assert not check.ok and detail in check.detail, check


def test_doctor_passes_a_model_that_calls_tools(tmp_path, fake_openai):
    def script(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("tool_choice") == "required":
            return tool_calls(("ping", {"ok": True}))
        return text("ok")

    fake_openai.script = script
    with httpx.Client() as client:
        s = make_settings(tmp_path, openai_base_url=fake_openai.base_url, coo_model="gpt-4o-mini")
        check = check_model(s, client)
    assert check.ok and "calls tools" in check.detail and "planner's prompt is 120 tokens" in check.detail
    assert "COO_MODEL_LOCAL=true" in check.detail  # loopback: the hint to make it free
    ping, planner = fake_openai.requests
    assert [t["function"]["name"] for t in ping["tools"]] == ["ping"]
    assert len(planner["tools"]) > 10 and json.dumps(planner).count("bookkeeping__record_expense") == 1


@SQLITE
def test_a_request_is_offered_only_its_agents_tools(app_factory, fake_openai):
    fake_openai.script = lambda body: text("Noted.")
    app = app_factory(settings={"openai_base_url": fake_openai.base_url, "coo_model": "local"})
    session = ConsoleSession(app)
    session.send("remind me to call the bank about the card tomorrow")
    session.send("hello there, how are you today?")
    routed, chat = fake_openai.requests
    names = {t["function"]["name"].split("__")[0] for t in routed["tools"]}
    assert "tasks" in names and "bookkeeping" not in names and routed["tool_choice"] == "auto"
    # The instructions carry only the routed agents' notes, before anything that changes per request.
    assert "About the bookkeeping tools" not in routed["messages"][0]["content"]
    # A line near no agent is chat: no tools at all (and a local server honours max_tokens then).
    assert "tools" not in chat and "tool_choice" not in chat


def test_the_tools_count_against_the_context_budget():
    from graph.context import Budget, ContextBuilder
    from graph.placement import Router

    turns = [("user", f"turn {i} " + "words " * 40) for i in range(20)]
    router = Router(scorer=None, agents=("bookkeeping",))
    free = ContextBuilder(knowledge=None, db=None, budget=Budget(total_tokens=3000), router=router).build(
        "hi", turns
    )
    tooled = ContextBuilder(
        knowledge=None, db=None, budget=Budget(total_tokens=3000), router=router, fixed=lambda agents: 2900
    ).build("hi", turns)
    assert len(tooled.history) < len(free.history) and tooled.tokens <= 3000
