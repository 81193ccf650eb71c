"""A webhook receiver for tests: checks each request's signature on its own (not with coo's code),
records every request and its Idempotency-Key, and answers from a script (e.g. 503, 503, then 200)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int


@dataclass
class Receiver:
    """Answers ``POST /<anything>`` from ``script`` (then 200), keeping one effect per Idempotency-Key."""

    secret: str
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    effects: dict[str, bytes] = field(default_factory=dict)  # idempotency key → body, first 2xx only
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def signature_ok(self, headers: dict[str, str], body: bytes) -> bool:
        """Check ``Webhook-Signature: t=…,v1=…`` = HMAC-SHA256(secret, "<t>.<body>"), as a receiver would."""
        parts = dict(p.split("=", 1) for p in headers.get("webhook-signature", "").split(",") if "=" in p)
        t = parts.get("t", "")
        if t != headers.get("webhook-timestamp"):
            return False
        expected = hmac.new(self.secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    async def handle(self, request: Request) -> Response:
        """Record the request and answer the next scripted status."""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        ok = self.signature_ok(headers, body)
        with self._lock:
            status, extra = self.script.pop(0) if self.script else (200, {})
            if not ok:
                status, extra = 401, {}
            self.requests.append(Received(request.url.path, headers, body, ok, status))
            if 200 <= status < 300:
                self.effects.setdefault(headers.get("idempotency-key", ""), body)
        if 300 <= status < 400:
            return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=status)
        return JSONResponse({"status": status}, status_code=status, headers=extra)

    @property
    def app(self) -> Starlette:
        """The ASGI app (serve it with ``tests.fakes.server.serve``)."""
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    def count(self) -> int:
        """Return how many requests arrived."""
        with self._lock:
            return len(self.requests)
