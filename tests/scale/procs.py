"""Real `coo serve` processes for Slack: their environment, a free port, signed requests, readiness.

Shared by the scale-out test (tests/scale/test_burst.py), the process crash matrix
(tests/crash/test_serve_matrix.py) and the throughput bench (bench/scale.py).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.bot.slack.harness import OPERATOR, SECRET

_VERIFIER = SignatureVerifier(SECRET)


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed(body: str) -> dict[str, str]:
    """Return the headers Slack sends with ``body``: a timestamp and its signature, and JSON's type."""
    ts = str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": _VERIFIER.generate_signature(timestamp=ts, body=body) or "",
        "content-type": "application/json",
    }


def base_env(db: str, fake_url: str, fake_token: str, data: Path, **extra: str) -> dict[str, str]:
    """Return a `coo serve` or `coo worker` environment: this one without coo's settings, plus Slack's
    pointed at the loopback fake, the operator, the database and the data dir."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_"))
    }
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=db,
        COO_DATA_DIR=str(data),
        SLACK_BOT_TOKEN=fake_token,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=f"{fake_url}/api/",
        COO_OPERATORS=f"slack:{OPERATOR}",
        COO_RATE_PER_MINUTE="1000000",
        **extra,
    )
    return env


def up(url: str) -> bool:
    """Return whether a `coo serve` at ``url`` answers its health check."""
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
