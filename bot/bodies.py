"""Read every request body as a bounded stream before any route sees it.

`BodyGuard` wraps the whole ASGI app. For a request that carries a body it reads the body chunk by
chunk (chunked bodies too), with a running cap and one deadline for the whole body, and only then calls
the app, replaying the bytes it read. So a route never starts work (signature checks, in-flight counts
for "acknowledgements first", inbox writes) for a body that is too big or never arrives:
- over ``max_bytes`` (declared or streamed) → 413, reading stops at the cap;
- not complete within ``timeout_s`` → 408;
- the client went away → one log line, no answer, no traceback.
Each refusal answers ``Connection: close``, so the server stops reading the rest of that connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Gone(Exception):
    """The client disconnected before its body was complete."""


class BodyGuard:
    """ASGI middleware: bound every request body in size and time before the app runs.

    Args:
        app: The ASGI app to protect.
        max_bytes: The largest body accepted (routes may set a lower cap of their own).
        timeout_s: The time allowed for the whole body to arrive, from the end of the headers.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call: read and bound the body first, then call the app."""
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        peer = _peer(scope)
        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_bytes:
                raise _Refused(413, f"the body is over {self.max_bytes} bytes")
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except _Refused as exc:
            log.warning(
                "http: refused %s %s from %s (%d): %s",
                scope["method"],
                scope["path"],
                peer,
                exc.status,
                exc.reason,
            )
            await _answer(send, exc.status, exc.reason)
            return
        except TimeoutError:
            log.warning(
                "http: refused %s %s from %s (408): the body did not arrive within %g s",
                scope["method"],
                scope["path"],
                peer,
                self.timeout_s,
            )
            await _answer(send, 408, f"the body did not arrive within {self.timeout_s:g} s")
            return
        except _Gone:
            log.info(
                "http: %s %s from %s: the client went away before its body was complete",
                scope["method"],
                scope["path"],
                peer,
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _Refused(413, f"the body is over {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a receive that yields the body read, then what the server says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
