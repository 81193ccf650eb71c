"""A loopback fake of the OpenAI chat-completions API that returns scripted tool calls with usage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Script = Callable[[dict[str, Any]], dict[str, Any]]


def tool_calls(*calls: tuple[str, dict[str, Any]], content: str | None = None) -> dict[str, Any]:
    """Return an assistant message that calls the given tools."""
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ],
    }


def text(content: str) -> dict[str, Any]:
    """Return an assistant message with plain text."""
    return {"role": "assistant", "content": content}


@dataclass
class FakeOpenAI:
    """Records every request; answers with ``script(request_body)`` (an assistant message).

    ``fail(body)`` may return an HTTP status (429, 500, ...) to answer with an OpenAI error instead
    (with ``retry-after-ms``, which the openai client honours). ``usage(body)`` may return the
    (prompt, completion) tokens to report; by default the fixed counts are. ``delay_s`` holds each
    answer, as a real model takes time.
    """

    script: Script
    prompt_tokens: int = 120
    completion_tokens: int = 30
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: Callable[[dict[str, Any]], int | None] | None = None
    usage: Callable[[dict[str, Any]], tuple[int, int]] | None = None
    delay_s: float = 0.0
    retry_after_ms: int = 1
    failures: list[dict[str, Any]] = field(default_factory=list)

    def models(self) -> list[str]:
        """Return the model of every answered request, in order."""
        return [r.get("model", "") for r in self.requests]

    def app(self) -> Starlette:
        """Return the ASGI app."""

        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            status = self.fail(body) if self.fail else None
            if status:
                self.failures.append(body)
                kind = "rate_limit_exceeded" if status == 429 else "server_error"
                return JSONResponse(
                    {"error": {"message": f"fake {status}", "type": kind, "param": None, "code": kind}},
                    status_code=status,
                    headers={"retry-after-ms": str(self.retry_after_ms)},
                )
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            self.requests.append(body)
            message = self.script(body)
            prompt_tokens, completion_tokens = (
                self.usage(body) if self.usage else (self.prompt_tokens, self.completion_tokens)
            )
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "gpt-4o-mini"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            )

        async def models(request: Request) -> JSONResponse:
            names = sorted({r.get("model", "") for r in self.requests} | {"gpt-4o-mini"})
            return JSONResponse({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

        return Starlette(
            routes=[
                Route("/v1/chat/completions", completions, methods=["POST"]),
                Route("/v1/models", models),
            ]
        )
