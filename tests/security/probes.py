"""Raw-socket probes of an HTTP front door, as a stranger on the network would send them.

Shared by ``tests/security/test_front_door.py`` and ``bench/front_door.py``: chunked bodies that never
end, connections that send headers and stall, requests with malformed headers (bytes, not str, so
non-ASCII values go out as they are), and the Slack and hook signatures a sender computes.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from slack_sdk.signature import SignatureVerifier

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOOK_SECRET = "hook-secret-0123456789abcdef"


def address(url: str) -> tuple[str, int]:
    """Return (host, port) of a base URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


STRANGER = "127.0.0.2"  # a loopback source address other than the operator's platform (127.0.0.1)


def connect(url: str, timeout: float = 10.0, source: str | None = None) -> socket.socket:
    """Open a TCP connection to the server behind ``url``, from ``source`` (an address) if given."""
    return socket.create_connection(
        address(url), timeout=timeout, source_address=(source, 0) if source else None
    )


def head(path: str, headers: dict[str, str | bytes]) -> bytes:
    """Return a request head (request line and headers) as raw bytes."""
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    for name, value in headers.items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def status_of(sock: socket.socket) -> int | None:
    """Read the response's status code; None when the server closed without answering."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except (ConnectionResetError, TimeoutError):
        return None
    return int(data.split(b" ", 2)[1])


def request(url: str, path: str, headers: dict[str, str | bytes], body: bytes = b"") -> int | None:
    """Send one request with a Content-Length body and return its status (None: closed unanswered)."""
    with connect(url) as sock:
        sock.sendall(head(path, {**headers, "Content-Length": str(len(body)), "Connection": "close"}) + body)
        return status_of(sock)


def chunked_flood(url: str, path: str, total: int, chunk: int = 65536) -> int | None:
    """Stream up to ``total`` bytes as a chunked body, stopping when the server answers or stops reading."""
    with connect(url, timeout=5) as sock:
        sock.sendall(head(path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
        piece = f"{chunk:x}\r\n".encode() + b"[" * chunk + b"\r\n"
        sent = 0
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # an answer (or a close) came: stop sending
            try:
                sock.sendall(piece)
            except OSError:  # includes the timeout of a server that stopped reading
                break
            sent += chunk
        else:
            sock.sendall(b"0\r\n\r\n")
        sock.settimeout(30)
        return status_of(sock)


@contextmanager
def stalled(
    url: str, path: str, n: int, declared: int = 100, source: str | None = STRANGER
) -> Iterator[list[socket.socket]]:
    """Hold ``n`` connections that send headers declaring a body and then never send it."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = connect(url, source=source)
            s.sendall(head(path, {"Content-Type": "application/json", "Content-Length": str(declared)}))
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Tell whether the server closed (or answered and closed) this connection within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except OSError:
        return True


def slack_headers(body: str, timestamp: str | None = None) -> dict[str, str | bytes]:
    """Return the headers Slack sends with a signed request (signed by slack_sdk's own code)."""
    ts = timestamp or str(int(time.time()))
    sig = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body) or ""
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def slack_message(text: str, event_id: str, user: str = "W111", channel: str = "D0001") -> str:
    """Return an Events API callback carrying one DM."""
    ts = f"{time.time():.6f}"
    return json.dumps(
        {
            "token": "t",
            "team_id": "T111",
            "api_app_id": "A111",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": channel,
                "user": user,
                "text": text,
                "ts": ts,
                "event_ts": ts,
            },
        }
    )


def malformed_slack_headers() -> list[dict[str, str | bytes]]:
    """Return signature/timestamp headers that are wrong in shape, not just in value."""
    now = str(int(time.time()))
    stamps: list[str | bytes] = [
        "abc",
        "1e10",
        "",
        " ",
        "-1",
        "9" * 5000,
        "1.5",
        now + "x",
        "٣٤٥",
        b"\xff\xfe",
    ]
    sigs: list[str | bytes] = ["", "v0=", "v0=" + "é" * 64, "é", "v0=zz", "v1=" + "0" * 64, b"v0=\xff" * 20]
    out: list[dict[str, str | bytes]] = []
    for ts in stamps:
        for sig in sigs:
            out.append(
                {
                    "Content-Type": "application/json",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": sig,
                }
            )
    for sig in sigs:  # a current timestamp, so the signature itself is compared
        out.append(
            {"Content-Type": "application/json", "X-Slack-Request-Timestamp": now, "X-Slack-Signature": sig}
        )
    return out


def malformed_hook_headers() -> list[dict[str, str | bytes]]:
    """Return ``Webhook-Signature`` values that are wrong in shape."""
    now = str(int(time.time()))
    values: list[str | bytes] = [
        "",
        "t=",
        "v1=é",
        f"t={now},v1=é",
        f"t={now},v1=" + "é" * 64,
        "t=" + "9" * 5000 + ",v1=00",
        "t=²,v1=00",
        "t=٣٤٥,v1=00",
        "t=1e10,v1=00",
        f"t={now},v1=" + "0" * 10000,
        b"t=\xff,v1=\xfe",
        ",,,,",
        "=" * 100,
    ]
    return [{"Content-Type": "application/json", "Webhook-Signature": v} for v in values]


def rss_mib(pid: int) -> float:
    """Return a process's resident set size in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    """Return how many file descriptors a process holds (Linux)."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
