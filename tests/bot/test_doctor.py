"""`coo doctor` against loopback fakes of Slack, Telegram and an OpenAI-compatible server."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.doctor import report, run_checks
from tests.conftest import make_settings
from tests.fakes.server import serve

TOKEN = "123456:ABCdefGHIjklMNOpqrsTUVwxyz0123456789"


def fake_apis(date_header: str | None = None) -> Starlette:
    headers = {"date": date_header} if date_header else None

    async def auth_test(request: Request) -> JSONResponse:
        ok = request.headers.get("authorization") == "Bearer xoxb-good"
        body = {"ok": True, "user": "coo", "team": "Acme"} if ok else {"ok": False, "error": "invalid_auth"}
        return JSONResponse(body, headers=headers)

    async def get_me(request: Request) -> JSONResponse:
        return JSONResponse(
            {"ok": True, "result": {"id": 1, "is_bot": True, "username": "coo_bot"}}, headers=headers
        )

    async def webhook_info(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "result": {"url": "https://old.example/telegram/webhook"}})

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

    async def completions(request: Request) -> JSONResponse:
        call = {"id": "c1", "type": "function", "function": {"name": "ping", "arguments": '{"ok": true}'}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return JSONResponse(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        )

    return Starlette(
        routes=[
            Route("/slack/api/auth.test", auth_test, methods=["POST"]),
            Route(f"/tg/bot{TOKEN}/getMe", get_me),
            Route(f"/tg/bot{TOKEN}/getWebhookInfo", webhook_info),
            Route("/v1/models", models),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ]
    )


def test_doctor_says_what_to_fix(tmp_path):
    with serve(fake_apis()) as url, httpx.Client() as client:
        s = make_settings(
            tmp_path,
            slack_bot_token="xoxb-bad",
            slack_signing_secret="x" * 10,
            slack_api_url=url + "/slack/api/",
            telegram_bot_token=TOKEN,
            telegram_api_url=url + "/tg/bot",
            telegram_webhook_url="https://coo.example/telegram/webhook",
            telegram_webhook_secret="s" * 16,
            openai_api_key="sk-x",
            openai_base_url=url + "/v1",
            coo_model="gpt-9",
        )
        checks = {c.name: c for c in run_checks(s, client)}
    assert checks["database"].ok
    assert not checks["settings"].ok and "COO_OPERATORS is empty" in checks["settings"].detail
    assert not checks["slack"].ok and "invalid_auth" in checks["slack"].detail
    assert "SLACK_BOT_TOKEN" in checks["slack"].fix
    assert not checks["telegram"].ok and "old.example" in checks["telegram"].detail
    assert not checks["model"].ok and "gpt-9" in checks["model"].detail
    assert report(list(checks.values())).endswith("4 problem(s) to fix.")


def test_doctor_all_good_and_clock_skew(tmp_path):
    with serve(fake_apis(date_header="Mon, 01 Jan 2001 00:00:00 GMT")) as url, httpx.Client() as client:
        s = make_settings(
            tmp_path,
            slack_bot_token="xoxb-good",
            slack_signing_secret="x" * 10,
            slack_api_url=url + "/slack/api/",
            coo_operators=["slack:U1"],
            openai_base_url=url + "/v1",
        )
        checks = {c.name: c for c in run_checks(s, client)}
    assert checks["model"].ok and checks["settings"].ok
    assert not checks["slack"].ok and "clock is" in checks["slack"].detail
