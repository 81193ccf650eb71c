"""Time-to-ack of Slack events while the model is slow.

coo's real server (bolt on Starlette, uvicorn, embedded SQLite) runs on loopback with its Slack Web API
pointed at the loopback fake. 50 signed event_callback requests are posted at once, and the time until
each one's HTTP response (Slack's "ack") is measured. The model is scripted to take 2 s per call; the
baseline is the same 50 events with a model that answers at once, measured in the same run. Prints
p50/p99 for both, their ratio, each p99 against the anchor (a burst of as many concurrent GET /healthz on
the same server, just before the events), and p99 as a fraction of Slack's 3 s limit.

Run: .venv/bin/python bench/slack_ack.py [--n 50] [--model-s 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.app import App  # noqa: E402
from bot.server import build_server  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.channel import SlackChannel  # noqa: E402
from graph.planner import Plan, PlanRequest  # noqa: E402
from tests.fakes.server import serve  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_LIMIT_S = 3.0


class SlowModel:
    """A scripted planner that takes a fixed time per call, like a slow model."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def plan(self, request: PlanRequest) -> Plan:
        time.sleep(self.seconds)
        return Plan(reply=f"thought about {request.text!r}", planner=self.name)


def event(i: int, tag: str) -> str:
    ts = f"1700000000.{i:06d}"
    return json.dumps(
        {
            "token": "verification_token",
            "team_id": "T111",
            "api_app_id": "A111",
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": f"D{i:04d}",
                "user": "W111",
                "text": f"question {i}",
                "ts": ts,
                "event_ts": ts,
            },
            "type": "event_callback",
            "event_id": f"Ev{tag}{i:05d}",
            "event_time": 1700000000,
        }
    )


async def post(client: httpx.AsyncClient, url: str, body: str) -> float:
    ts = str(int(time.time()))
    sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or ""
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
    t0 = time.perf_counter()
    resp = await client.post(f"{url}/slack/events", content=body, headers=headers)
    took = time.perf_counter() - t0
    assert resp.status_code == 200, resp.text
    return took


async def health(client: httpx.AsyncClient, url: str) -> float:
    t0 = time.perf_counter()
    resp = await client.get(f"{url}/healthz")
    took = time.perf_counter() - t0
    assert resp.status_code == 200, resp.text
    return took


async def burst(url: str, n: int, tag: str) -> tuple[list[float], list[float]]:
    """Return the times of n concurrent GET /healthz (the anchor), then of n concurrent signed events."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await post(client, url, event(0, f"{tag}warm"))  # bolt's first request also calls auth.test
        await health(client, url)
        anchor = await asyncio.gather(*(health(client, url) for _ in range(n)))
        return anchor, await asyncio.gather(*(post(client, url, event(i + 1, tag)) for i in range(n)))


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1] if len(xs) > 1 else xs[0]


def measure(model_s: float, n: int, tag: str) -> tuple[list[float], float, list[float]]:
    """Return the ack times of n concurrent events, the seconds until every reply was posted, and the
    times of n concurrent GET /healthz on the same server just before (the anchor)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, coo_data_dir=Path(tmp), coo_operators=["slack:W111"]
        )
        fake = FakeSlack()
        with App(settings, planner=SlowModel(model_s)) as app, serve(fake.app()) as fake_url:
            channel = SlackChannel(
                app, bot_token=fake.token, signing_secret=SECRET, api_url=f"{fake_url}/api/"
            )
            with serve(build_server(app, [channel.mount()]), lifespan="on") as url:
                t0 = time.perf_counter()
                anchor, acks = asyncio.run(burst(url, n, tag))
                assert channel.loop is not None
                asyncio.run_coroutine_threadsafe(channel.drain(timeout=600), channel.loop).result()
                all_replies = time.perf_counter() - t0
                posted = len(fake.to("chat.postMessage"))
                assert posted == n + 1, f"expected {n + 1} replies, Slack got {posted}"
    return acks, all_replies, anchor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--model-s", type=float, default=2.0)
    args = ap.parse_args()

    base, base_all, base_h = measure(0.0, args.n, "base")
    slow, slow_all, slow_h = measure(args.model_s, args.n, "slow")
    b50, b99 = pct(base, 50) * 1000, pct(base, 99) * 1000
    s50, s99 = pct(slow, 50) * 1000, pct(slow, 99) * 1000
    h99 = [pct(base_h, 99) * 1000, pct(slow_h, 99) * 1000]
    print(f"{args.n} concurrent signed events, real server on loopback, embedded SQLite")
    print(
        f"anchor: {args.n} concurrent GET /healthz, same server   p99 {h99[0]:7.1f} ms (instant model run), "
        f"{h99[1]:7.1f} ms (slow model run)"
    )
    print(
        f"baseline (model answers at once)  p50 {b50:7.1f} ms   p99 {b99:7.1f} ms   all replies {base_all:5.1f} s"
    )
    print(
        f"model takes {args.model_s:.1f} s per call       p50 {s50:7.1f} ms   p99 {s99:7.1f} ms   "
        f"all replies {slow_all:5.1f} s"
    )
    print(f"ratio slow/baseline               p50 {s50 / b50:7.2f}      p99 {s99 / b99:7.2f}")
    print(f"p99 time-to-ack / /healthz p99    instant {b99 / h99[0]:7.2f}      slow {s99 / h99[1]:7.2f}")
    print(f"p99 time-to-ack / Slack's 3 s limit: {max(b99, s99) / 1000 / SLACK_LIMIT_S:.3f}")


if __name__ == "__main__":
    main()
