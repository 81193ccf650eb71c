"""A loopback fake of the Telegram Bot API (``/bot<token>/<method>``) that records every call."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER = {
    "id": 999000,
    "is_bot": True,
    "first_name": "coo",
    "username": "coo_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class FakeTelegram:
    """Answers like Telegram; `calls` holds (method, params) in order; `updates` feed getUpdates."""

    token: str = "123456:TEST-token-for-the-fake-bot-api"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: dict[str, int] = field(default_factory=dict)  # method -> how many 429s to answer first
    webhook_url: str = ""
    gone: set[int] = field(default_factory=set)  # message ids deleted in the chat: edits answer "not found"
    _ids: itertools.count = field(default_factory=lambda: itertools.count(100))

    def to(self, method: str) -> list[dict[str, Any]]:
        """Return the params of every call of one method."""
        return [p for m, p in self.calls if m == method]

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self.updates.append(update)

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        msg = {
            "message_id": int(params.get("message_id") or next(self._ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
        }
        if "text" in params:
            msg["text"] = params["text"]
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        msg.update(extra)
        return msg

    def app(self) -> Starlette:
        """Return the ASGI app."""

        async def method(request: Request) -> JSONResponse:
            if request.path_params["token"] != self.token:
                return JSONResponse(
                    {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
                )
            name = request.path_params["method"]
            params: dict[str, Any] = {}
            ctype = request.headers.get("content-type", "")
            if ctype.startswith("application/json"):
                params = await request.json()
            else:
                async with request.form() as form:
                    items = list(form.items())
                    uploads = {k: getattr(v, "filename", "") for k, v in items if not isinstance(v, str)}
                for k, v in items:
                    if isinstance(v, str) and v[:1] in "[{":
                        try:
                            params[k] = json.loads(v)
                            continue
                        except ValueError:
                            pass
                    params[k] = v if isinstance(v, str) else {"filename": uploads[k]}
            self.calls.append((name, params))
            if self.rate_limit.get(name, 0) > 0:
                self.rate_limit[name] -= 1
                return JSONResponse(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status_code=429,
                )
            result: Any = True
            if name == "getMe":
                result = BOT_USER
            elif name in ("sendMessage", "sendPhoto"):
                result = self._message(params)
                params["_message_id"] = result["message_id"]  # so tests can click the message they see
            elif (
                name in ("editMessageText", "editMessageReplyMarkup")
                and int(params.get("message_id") or 0) in self.gone
            ):
                return JSONResponse(
                    {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"},
                    status_code=400,
                )
            elif name in ("editMessageText", "editMessageReplyMarkup"):
                result = self._message(params, edit_date=int(time.time()))
            elif name == "setWebhook":
                self.webhook_url = params.get("url", "")
            elif name == "getWebhookInfo":
                result = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}
            elif name == "getUpdates":
                offset = int(params.get("offset") or 0)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if not self.updates:
                    await asyncio.sleep(min(float(params.get("timeout") or 0), 0.05))
                result = self.updates[: int(params.get("limit") or 100)]
            return JSONResponse({"ok": True, "result": result})

        return Starlette(routes=[Route("/bot{token}/{method}", method, methods=["GET", "POST"])])
