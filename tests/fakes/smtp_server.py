"""A loopback SMTP server (aiosmtpd) that records what it receives and can refuse or hold a delivery."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class SmtpSink:
    """Records delivered messages.

    ``refuse``: recipients answered with 550. ``hold``: while set, every RCPT waits (a delivery in
    progress that a test can interrupt); ``holding`` counts RCPTs that started waiting.
    """

    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    hold: threading.Event = field(default_factory=threading.Event)
    holding: int = 0
    rcpts: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        self.rcpts += 1
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        if self.hold.is_set():
            self.holding += 1
            while self.hold.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 try again later"  # the held session is long gone by now
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpSink, str]]:
    """Run the sink on a loopback port; yield it and its ``smtp://`` URL."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, f"smtp://127.0.0.1:{controller.port}"
    finally:
        sink.hold.clear()
        controller.stop()
