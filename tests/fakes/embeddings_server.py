"""A loopback fake of the OpenAI embeddings API (``POST /v1/embeddings``), float and base64 encodings."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakeEmbeddings:
    """Embeds each input with ``embed(text)``; records every request body; ``fail`` answers 500."""

    embed: Callable[[str], list[float]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def app(self) -> Starlette:
        """Return the ASGI app."""

        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.fail:
                return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = []
            for i, text in enumerate(inputs):
                vec = self.embed(text)
                if body.get("encoding_format") == "base64":
                    value: Any = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()
                else:
                    value = list(vec)
                data.append({"object": "embedding", "index": i, "embedding": value})
            tokens = sum(len(t.split()) for t in inputs)
            return JSONResponse(
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )

        return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])
