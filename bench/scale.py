"""Scale-out throughput: two `coo serve` and two `coo worker` processes on PostgreSQL and Redis.

The four processes run as in production (`python -m bot.cli serve|worker`), with Slack's Web API
pointed at the loopback fake. A small round-robin TCP proxy on loopback spreads connections over the
two web processes. For each offered rate (signed Slack DM events per second, open loop: each message
is sent at its scheduled time whatever the earlier ones are doing) the bench sends for ``--seconds``,
then waits for the replies, and reports per rate: messages delivered (acknowledged 200), the p50/p99
time from sending a message to its reply reaching Slack, replies lost (acknowledged, no reply) and
replies doubled (more than one reply in a message's thread).

The model is instant: every message is ``balance``, which the rules answer without calling a model
(no model is configured), so the figures are coo's own overhead.

Needs PostgreSQL and Redis on 127.0.0.1 (as the tests do).

With ``--engine-process`` each `coo serve` runs with ``COO_ENGINE_PROCESS=1``: its Slack engine work
in a process of its own (bot/engine_process.py), the web process only recording and acknowledging.

Run: .venv/bin/python bench/scale.py [--rates 10,25,50,100] [--seconds 20] [--engine-process]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from tests.bot.slack.harness import OPERATOR  # noqa: E402
from tests.fakes.server import serve, wait_for  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.scale.procs import base_env, free_port, signed, up  # noqa: E402
from tests.services import fresh_postgres_database, redis_url  # noqa: E402


class TimedCalls(list):  # type: ignore[type-arg]
    """The fake's call list, noting when each call arrived (the reply's time)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._lock = threading.Lock()

    def append(self, item: Any) -> None:
        with self._lock:
            self.times.append(time.perf_counter())
            super().append(item)


async def round_robin(port: int, backends: list[int], ready: threading.Event, stop: asyncio.Event) -> None:
    """Accept connections on ``port`` and pipe each to the next backend in turn."""
    turn = itertools.cycle(backends)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", next(turn))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    ready.set()
    async with server:
        await stop.wait()


def event(tag: str, i: int) -> tuple[str, str]:
    """Return a signed DM event's body and its ts (the thread its reply goes to)."""
    ts = f"{1700000000 + i}.{abs(hash(tag)) % 1000000:06d}"
    body = {
        "token": "verification_token",
        "team_id": "T111",
        "api_app_id": "A111",
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D111",
            "user": OPERATOR,
            "text": "balance",
            "ts": ts,
            "event_ts": ts,
        },
        "type": "event_callback",
        "event_id": f"Ev{tag}{i:06d}",
        "event_time": 1700000000,
    }
    return json.dumps(body), ts


async def offer(url: str, rate: float, seconds: float, tag: str) -> tuple[dict[str, float], int]:
    """Send ``rate`` messages per second for ``seconds``; return {ts: send time} of those acknowledged."""
    n = int(rate * seconds)
    sent: dict[str, float] = {}
    refused = 0
    # no keep-alive: each message is a new connection, so the proxy alternates the web processes
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal refused
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            body, ts = event(tag, i)
            headers = signed(body)
            at = time.perf_counter()
            try:
                resp = await client.post(f"{url}/slack/events", content=body, headers=headers)
            except httpx.HTTPError:
                refused += 1
                return
            if resp.status_code == 200:
                sent[ts] = at
            else:
                refused += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return sent, refused


def replies(calls: TimedCalls, sent: dict[str, float], start: int) -> dict[str, list[float]]:
    """Return the arrival times of the replies posted to each sent message's thread."""
    got: dict[str, list[float]] = {}
    for c, at in zip(list(calls)[start:], list(calls.times)[start:], strict=False):
        if c.method == "chat.postMessage" and c.params.get("thread_ts") in sent:
            got.setdefault(c.params["thread_ts"], []).append(at)
    return got


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _procs() -> list[tuple[int, int, str]]:
    """Every process now: (pid, parent pid, command name)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                head, tail = (d / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            out.append((int(d.name), int(tail.split()[1]), head.split("(", 1)[1]))
    return out


def cpu_by_part(web: list[int], workers: list[int]) -> dict[str, float]:
    """CPU seconds used so far by each part: the web processes (with their engine processes), the
    workers, PostgreSQL's processes, Redis, and this bench (client, proxy and the fake Slack)."""
    table = _procs()

    def tree(roots: list[int]) -> set[int]:
        pids = set(roots)
        grew = True
        while grew:
            more = {pid for pid, ppid, _ in table if ppid in pids} - pids
            pids |= more
            grew = bool(more)
        return pids

    times = os.times()
    return {
        "web": sum(_cpu_s(p) for p in tree(web)),
        "workers": sum(_cpu_s(p) for p in tree(workers)),
        "postgres": sum(_cpu_s(pid) for pid, _, name in table if name.startswith("postgres")),
        "redis": sum(_cpu_s(pid) for pid, _, name in table if name.startswith("redis")),
        "bench": times.user + times.system,
    }


def pct(xs: list[float], p: int) -> float:
    if not xs:
        return float("nan")
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="10,25,50,100")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=180.0, help="longest wait for the last replies, seconds")
    ap.add_argument("--engine-process", action="store_true", help="COO_ENGINE_PROCESS=1 for coo serve")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    fake = FakeSlack()
    calls = TimedCalls()
    fake.calls = calls
    namespace = f"coo-scale-{uuid.uuid4().hex[:6]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_postgres_database() as db,
        serve(fake.app()) as fake_url,
    ):
        procs, logs, web_ports = [], [], []
        try:
            roles = ["serve", "serve", "worker", "worker"]
            for i, role in enumerate(roles):
                port = free_port()
                env = base_env(
                    db,
                    fake_url,
                    fake.token,
                    Path(tmp) / f"p{i}",
                    REDIS_URL=redis_url(),
                    COO_REDIS_NAMESPACE=namespace,
                    PORT=str(port),
                    COO_HOST="127.0.0.1",
                    **({"COO_ENGINE_PROCESS": "1"} if args.engine_process and role == "serve" else {}),
                )
                logs.append(open(Path(tmp) / f"p{i}-{role}.log", "w"))  # noqa: SIM115 - closed below
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", role], env=env, stdout=logs[-1], stderr=logs[-1]
                    )
                )
                if role == "serve":
                    web_ports.append(port)

            wait_for(
                lambda: all(up(f"http://127.0.0.1:{p}") for p in web_ports),
                timeout=600,
                interval=0.2,
                what="web processes",
            )
            proxy_port, ready = free_port(), threading.Event()
            loop = asyncio.new_event_loop()
            stop = asyncio.Event()

            def run_proxy() -> None:
                asyncio.set_event_loop(loop)
                loop.run_until_complete(round_robin(proxy_port, web_ports, ready, stop))

            threading.Thread(target=run_proxy, daemon=True).start()
            ready.wait(10)
            url = f"http://127.0.0.1:{proxy_port}"
            # Warm up: a few messages through each web process, answered, before anything is timed.
            warm, _ = asyncio.run(offer(url, 4, 1, f"warm{uuid.uuid4().hex[:4]}"))
            wait_for(lambda: len(replies(calls, warm, 0)) >= len(warm), timeout=120, what="the warm-up")
            print(
                f"2 x coo serve + 2 x coo worker, PostgreSQL + Redis, round-robin proxy on loopback; "
                f"'balance' (answered without a model), {args.seconds:g} s per rate"
                + (", engine in a process of its own" if args.engine_process else "")
            )
            print(
                f"{'offered/s':>9} {'sent':>6} {'delivered':>9} {'p50 reply':>10} {'p99 reply':>10} "
                f"{'lost':>5} {'doubled':>7} {'achieved/s':>10}"
            )
            for rate in rates:
                tag = f"r{int(rate)}x{uuid.uuid4().hex[:4]}"
                start = len(calls)
                web_pids = [p.pid for p, r in zip(procs, roles, strict=True) if r == "serve"]
                worker_pids = [p.pid for p, r in zip(procs, roles, strict=True) if r == "worker"]
                cpu0 = cpu_by_part(web_pids, worker_pids)
                t0 = time.perf_counter()
                sent, refused = asyncio.run(offer(url, rate, args.seconds, tag))

                try:
                    wait_for(
                        lambda s=sent, i=start: len(replies(calls, s, i)) >= len(s),  # type: ignore[misc]
                        timeout=args.settle,
                        interval=0.2,
                        what="the replies",
                    )
                except (TimeoutError, AssertionError):
                    pass  # what never came is counted as lost
                got = replies(calls, sent, start)
                took = [min(got[ts]) - sent[ts] for ts in got]
                last = max((min(v) for v in got.values()), default=t0)
                lost = len(set(sent) - set(got))
                doubled = sum(1 for v in got.values() if len(v) > 1)
                n = int(rate * args.seconds)
                print(
                    f"{rate:9.0f} {n:6d} {len(sent):9d} {pct(took, 50) * 1000:8.0f}ms {pct(took, 99) * 1000:8.0f}ms "
                    f"{lost:5d} {doubled:7d} {len(got) / (last - t0):10.1f}"
                    + (f"   ({refused} refused or failed)" if refused else "")
                )
                cpu1 = cpu_by_part(web_pids, worker_pids)
                per = {k: (cpu1[k] - cpu0[k]) * 1000 / max(len(got), 1) for k in cpu0}
                cores = os.cpu_count() or 1
                print(
                    f"{'':9} CPU ms per reply: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
                    + f"; all {sum(per.values()):.1f} ({cores} cores: at most "
                    f"{cores * 1000 / max(sum(per.values()), 0.001):.0f} replies/s)"
                )
            loop.call_soon_threadsafe(stop.set)
            counts = Counter(c.method for c in calls)
            print(f"Slack API calls: {dict(counts)}")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            for f in logs:
                f.close()


if __name__ == "__main__":
    main()
