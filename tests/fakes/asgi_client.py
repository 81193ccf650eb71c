"""Post to the app under an entered TestClient with one hop to its event loop per request.

TestClient's own transport makes about eight portal calls per request (events, a stream, a cancel scope),
which is most of a fuzz example's time. An httpx.AsyncClient over ASGITransport, on the TestClient's own
event loop and lifespan, makes one; app exceptions still propagate (``raise_app_exceptions``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
from starlette.testclient import TestClient


class LoopClient:
    def __init__(self, client: TestClient) -> None:
        if client.portal is None:
            raise RuntimeError("enter the TestClient (with TestClient(app) as client) first")
        self._portal = client.portal
        self._client: httpx.AsyncClient = self._portal.call(self._open, client.app)

    @staticmethod
    async def _open(app: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def post(self, path: str, *, content: bytes | str, headers: dict[str, Any]) -> httpx.Response:
        return self._portal.call(partial(self._client.post, path, content=content, headers=headers))

    def close(self) -> None:
        self._portal.call(self._client.aclose)

    def __enter__(self) -> LoopClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
