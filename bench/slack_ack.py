"""Time-to-ack of Slack events while the model is slow.

coo's real server (bolt on Starlette, uvicorn, embedded SQLite) runs on loopback with its Slack Web API
pointed at the loopback fake. From a client process of its own, 50 signed event_callback requests are posted at once, and the time until
each one's HTTP response (Slack's "ack") is measured. The model is scripted to take 2 s per call; the
baseline is the same 50 events with a model that answers at once, measured in the same run. Prints
p50/p99 for both, their ratio, each p99 against the anchor (a burst of as many concurrent GET /healthz on
the same server, just before the events), and p99 as a fraction of Slack's 3 s limit.

With ``--engine-process`` the engine runs in a process of its own (``COO_ENGINE_PROCESS``, what
`coo serve` does with it on): the server process only verifies, records and acknowledges.

Run: .venv/bin/python bench/slack_ack.py [--n 50] [--model-s 2.0] [--engine-process]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# BENCH_ROOT: run this bench against another checkout of coo (e.g. main, for a before/after in one window)
sys.path.insert(0, os.environ.get("BENCH_ROOT") or str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.app import App  # noqa: E402
from bot.server import build_server  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.channel import SlackChannel  # noqa: E402
from graph.planner import Plan, PlanRequest  # noqa: E402
from tests.fakes.server import serve, wait_for  # noqa: E402
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


async def warm(url: str, tag: str) -> None:
    """Post one event (the engine process answers it once it is ready)."""
    async with httpx.AsyncClient(timeout=30) as client:
        await post(client, url, event(0, tag))


def raw_request(url: str, method: str, path: str, body: str = "", signed: bool = False) -> bytes:
    """Return one HTTP/1.1 request's bytes (built, and signed, before any clock starts)."""
    host = url.removeprefix("http://")
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body.encode())}"]
    if signed:
        ts = str(int(time.time()))
        sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or ""
        head += ["Content-Type: application/json", f"X-Slack-Request-Timestamp: {ts}", f"X-Slack-Signature: {sig}"]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


async def roundtrip(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes) -> float:
    """Send a prepared request on an open connection; return the seconds until its whole response."""
    reader, writer = conn
    t0 = time.perf_counter()
    writer.write(data)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    took = time.perf_counter() - t0
    assert status.split()[1] == b"200", status
    return took


async def burst(url: str, n: int, tag: str) -> tuple[list[float], list[float]]:
    """Return the times of n concurrent GET /healthz (the anchor), then of n concurrent signed events.

    A minimal client on n connections opened beforehand, every request built and signed before the
    clock starts: what is timed is the server, not the client (an HTTP library's own work per request
    is in the milliseconds, which 50 at once would add to the figures).
    """
    host, port = url.removeprefix("http://").split(":")
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(n)]
    await roundtrip(conns[0], raw_request(url, "POST", "/slack/events", event(0, f"{tag}warm"), signed=True))
    await roundtrip(conns[0], raw_request(url, "GET", "/healthz"))
    anchor = await asyncio.gather(*(roundtrip(c, raw_request(url, "GET", "/healthz")) for c in conns))
    posts = [raw_request(url, "POST", "/slack/events", event(i + 1, tag), signed=True) for i in range(n)]
    acks = await asyncio.gather(*(roundtrip(c, data) for c, data in zip(conns, posts, strict=True)))
    for _, writer in conns:
        writer.close()
    return list(anchor), list(acks)


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1] if len(xs) > 1 else xs[0]


def run_burst(url: str, n: int, tag: str) -> tuple[list[float], list[float]]:
    """Run `burst` (in the client process: the clients' own CPU must not share the server's GIL)."""
    return asyncio.run(burst(url, n, tag))


def measure(model_s: float, n: int, tag: str, engine_process: bool) -> tuple[list[float], float, list[float]]:
    """Return the ack times of n concurrent events, the seconds until every reply was posted, and the
    times of n concurrent GET /healthz on the same server just before (the anchor)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, coo_data_dir=Path(tmp), coo_operators=["slack:W111"]
        )
        fake = FakeSlack()
        with App(settings, planner=SlowModel(model_s)) as app, serve(fake.app()) as fake_url:
            engine = None
            if engine_process:
                from bot.engine_process import EngineProcess
                from bot.slack.channel import engine_door

                door = functools.partial(engine_door, bot_token=fake.token, api_url=f"{fake_url}/api/")
                engine = EngineProcess(settings, door, planner=SlowModel(model_s))
            channel = SlackChannel(
                app,
                bot_token=fake.token,
                signing_secret=SECRET,
                api_url=f"{fake_url}/api/",
                **({"engine": engine} if engine_process else {}),
            )
            with (
                serve(build_server(app, [channel.mount()]), lifespan="on") as url,
                ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client,
            ):
                client.submit(pct, [1.0], 50).result()  # the client process is up (its imports done)
                if engine_process:  # the engine process is ready once it has answered the warm-up
                    asyncio.run(warm(url, f"{tag}pre"))
                    wait_for(lambda: len(fake.to("chat.postMessage")) >= 1, timeout=120, what="the engine")
                t0 = time.perf_counter()
                anchor, acks = client.submit(run_burst, url, n, tag).result()
                assert channel.loop is not None
                asyncio.run_coroutine_threadsafe(channel.drain(timeout=600), channel.loop).result()
                want = n + 1 + (1 if engine_process else 0)
                wait_for(lambda: len(fake.to("chat.postMessage")) >= want, timeout=600, what="the replies")
                all_replies = time.perf_counter() - t0
                posted = len(fake.to("chat.postMessage")) - (1 if engine_process else 0)
                assert posted == n + 1, f"expected {n + 1} replies, Slack got {posted}"
    return acks, all_replies, anchor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--model-s", type=float, default=2.0)
    ap.add_argument("--engine-process", action="store_true", help="the engine in a process of its own")
    args = ap.parse_args()

    base, base_all, base_h = measure(0.0, args.n, "base", args.engine_process)
    slow, slow_all, slow_h = measure(args.model_s, args.n, "slow", args.engine_process)
    b50, b99 = pct(base, 50) * 1000, pct(base, 99) * 1000
    s50, s99 = pct(slow, 50) * 1000, pct(slow, 99) * 1000
    h99 = [pct(base_h, 99) * 1000, pct(slow_h, 99) * 1000]
    where = "engine in its own process" if args.engine_process else "engine in the server process"
    print(f"{args.n} concurrent signed events, real server on loopback, embedded SQLite, {where}")
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
