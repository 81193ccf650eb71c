"""coo against a real llama.cpp server (see conftest): the commands, the tools, bounded generation, a wrong
URL, and `coo doctor`. Marked ``llama``: README's test command leaves them out; `.ci/run` runs them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.console import ConsoleSession
from bot.doctor import check_model
from bot.runs_view import trace_text
from memory.tables import Run
from tests.conftest import make_settings
from tests.llama.conftest import MODEL, LlamaServer, Proxy

pytestmark = pytest.mark.llama
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _settings(base_url: str, **more: Any) -> dict[str, Any]:
    return {"openai_base_url": base_url, "coo_model": MODEL, "coo_model_local": True, **more}


@SQLITE
def test_exact_commands_work_with_the_model_configured(app_factory, proxy: Proxy):
    app = app_factory(settings=_settings(proxy.url + "/v1"))
    session = ConsoleSession(app)
    cards = [r for r in session.send("expense 40 printer ink") if r.card]
    assert len(cards) == 1 and "$40.00" in cards[0].text
    done = session.send("approve")
    assert any("Recorded expense" in r.text for r in done), [r.text for r in done]
    assert any("Balance" in r.text for r in session.send("balance"))
    assert proxy.completions() == []  # the grammar answered: the model was never asked


@SQLITE
def test_the_model_receives_the_tools(app_factory, proxy: Proxy, llama_server: LlamaServer):
    app = app_factory(settings=_settings(proxy.url + "/v1", coo_max_output_tokens=48))
    replies = ConsoleSession(app).send("remind me to call the bank about the card tomorrow")
    assert replies and all("Traceback" not in r.text for r in replies)
    [call] = proxy.completions()
    assert call.status == 200, call.answer
    assert call.body["tool_choice"] == "auto" and call.body["tools"]
    # The server put the tools into the prompt: the same messages without them are far shorter.
    bare = {k: v for k, v in call.body.items() if k not in ("tools", "tool_choice")}
    without = httpx.post(f"{llama_server.url}/v1/chat/completions", json={**bare, "max_tokens": 1}, timeout=300)
    with_tools = call.answer["usage"]["prompt_tokens"]
    tool_words = sum(len(str(t)) for t in call.body["tools"]) // 8  # a low bound on their tokens
    assert with_tools - without.json()["usage"]["prompt_tokens"] > tool_words


@SQLITE
def test_a_runaway_generation_is_cut_by_max_tokens(app_factory, proxy: Proxy):
    app = app_factory(settings=_settings(proxy.url + "/v1", coo_max_output_tokens=24))
    replies = ConsoleSession(app).send("Write me a very long poem about the sea, at least two thousand words.")
    assert replies and all("Traceback" not in r.text for r in replies)
    [call] = proxy.completions()
    # A chat line is routed to no agent: no tools, and llama.cpp honours max_tokens.
    assert "tools" not in call.body and call.body["max_tokens"] == 24
    usage = call.answer["usage"]
    assert call.answer["choices"][0]["finish_reason"] == "length" and usage["completion_tokens"] == 24
    # `coo trace` shows exactly what the server counted.
    with Session(app.db) as s:
        run = s.exec(select(Run).order_by(col(Run.created_at).desc())).first()
    assert run is not None
    trace = trace_text(app, run.id) or ""
    assert f"model={MODEL} in={usage['prompt_tokens']} out=24 $0.00000" in trace, trace


@SQLITE
def test_a_wrong_base_url_falls_back_to_the_rules_with_a_clear_message(app_factory, llama_server: LlamaServer):
    # The server's root, without /v1: its answer is a 404.
    app = app_factory(settings=_settings(llama_server.url, coo_rules_first=False))
    replies = ConsoleSession(app).send("balance")
    texts = [r.text for r in replies]
    [note] = [t for t in texts if t.startswith("(Answered by the rule-based model")]
    assert "404" in note and "/v1" in note and "Traceback" not in note
    assert any("Balance" in t for t in texts)


def test_doctor_passes(tmp_path, llama_server: LlamaServer):
    s = make_settings(tmp_path, **_settings(llama_server.url + "/v1"))
    with httpx.Client(timeout=300) as client:
        check = check_model(s, client)
    assert check.ok, check
    assert "calls tools" in check.detail and "planner's prompt is" in check.detail

