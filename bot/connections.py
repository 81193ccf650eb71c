"""Time limits and a per-client cap on the server's connections (uvicorn's h11 protocol, extended).

uvicorn drops a keep-alive connection idle between requests (``timeout_keep_alive``) but waits forever
for the headers of a request, and lets one address open any number of connections. `guarded_protocol`
returns uvicorn's h11 protocol with both closed:
- **header timeout**: a connection must deliver a complete request head within ``header_timeout_s`` of
  opening, or of its first byte after a response; otherwise it is closed;
- **per-client cap**: an address with ``max_per_client`` connections open gets a 429 and a close for
  the next one.
The body's own deadline is `bot.bodies.BodyGuard`'s; the idle timeout is uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_TOO_MANY_TEXT = b"too many connections from this address"
TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TOO_MANY_TEXT)).encode() + b"\r\n\r\n" + _TOO_MANY_TEXT
)


class ConnectionLimits:
    """The limits, and the count of open connections per client address (one per server)."""

    def __init__(self, *, header_timeout_s: float, max_per_client: int) -> None:
        self.header_timeout_s = header_timeout_s
        self.max_per_client = max_per_client
        self.open: Counter[str] = Counter()
        self.refused = 0
        self.timed_out = 0


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """Return uvicorn's h11 protocol class bound to ``limits`` (pass it as ``uvicorn.Config(http=...)``)."""

    class GuardedH11Protocol(H11Protocol):
        guard = limits  # the server's counts, for /healthz-like reports and tests
        _peer: str | None = None
        _header_timer: asyncio.TimerHandle | None = None
        _armed_for: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = self.client[0] if self.client else "?"
            if limits.open[peer] >= limits.max_per_client:
                limits.refused += 1
                if limits.refused == 1 or limits.refused % 100 == 0:
                    log.warning(
                        "http: refused a connection from %s: %d open already (%d refused so far)",
                        peer,
                        limits.open[peer],
                        limits.refused,
                    )
                transport.write(TOO_MANY)
                transport.close()
                return
            self._peer = peer
            limits.open[peer] += 1
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._peer is not None:
                limits.open[self._peer] -= 1
                if limits.open[self._peer] <= 0:
                    del limits.open[self._peer]
                self._peer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first byte of a new request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not None and self.cycle is not self._armed_for:
                self._disarm()  # the head of a request arrived

        def _arm(self) -> None:
            self._armed_for = self.cycle
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.cycle is self._armed_for and not self.transport.is_closing():
                limits.timed_out += 1
                log.info(
                    "http: closed a connection from %s: no request head within %g s",
                    self._peer,
                    limits.header_timeout_s,
                )
                self.transport.close()

    return GuardedH11Protocol
