"""The front door under hostile traffic: memory, stalls, malformed headers, tracebacks.

`coo serve` runs in a subprocess (its RSS and file descriptors are its own) with Slack in HTTP mode and
one inbound hook; its Slack Web API is the loopback fake in this process. Measured, each against a
baseline taken in the same run:
- RSS of the server while four 50 MB chunked bodies (no Content-Length) go to /slack/events at once;
- the operator's ``balance`` reply time (event posted → chat.postMessage at the fake), alone and with
  200 connections open that sent headers declaring a body and never sent it;
- file descriptors of the server 2 s after the idle timeout with those connections still held;
- 5xx answers over malformed signature and timestamp headers (Slack and hooks);
- tracebacks in the server's log.

Run: .venv/bin/python bench/front_door.py [--stalled 200] [--mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.fakes.server import serve, wait_for  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.security import probes  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: str, fake_url: str, token: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    env = {
        **os.environ,
        "COO_DATA_DIR": tmp,
        "PORT": str(port),
        "COO_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": probes.SLACK_SECRET,
        "SLACK_API_URL": f"{fake_url}/api/",
        "COO_OPERATORS": "slack:W111",
        "COO_HOOKS": json.dumps({"pay": {"secret": probes.HOOK_SECRET}}),
        "COO_HOOKS_TO": "slack:D0001",
    }
    log = Path(tmp) / "server.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "coo"), "serve"],
        env=env,
        cwd=tmp,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, interval=0.1, what="coo serve")
    return proc, url, log


def reply_time(url: str, fake: FakeSlack, tag: str) -> float:
    """Post the operator's ``balance`` and return the seconds until its reply reaches Slack."""
    before = len(fake.to("chat.postMessage"))
    body = probes.slack_message("balance", f"Ev{tag}")
    t0 = time.perf_counter()
    status = probes.request(url, "/slack/events", probes.slack_headers(body), body.encode())
    assert status == 200, status
    wait_for(lambda: len(fake.to("chat.postMessage")) > before, timeout=60, what="the balance reply")
    return time.perf_counter() - t0


def median_reply(url: str, fake: FakeSlack, tag: str, n: int = 5) -> float:
    return statistics.median(reply_time(url, fake, f"{tag}{i}") for i in range(n))


def rss_under_floods(pid: int, url: str, n: int, mb: int) -> tuple[float, float, float, list[int | None]]:
    """Return RSS before, at peak and after n concurrent chunked floods, and their statuses."""
    before = probes.rss_mib(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, probes.rss_mib(pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(lambda _: probes.chunked_flood(url, "/slack/events", mb << 20), range(n)))
    done.set()
    sampler.join()
    return before, peak, probes.rss_mib(pid), statuses


def malformed(url: str) -> tuple[int, int, int]:
    """Return (requests, 5xx, other-than-4xx) over malformed signature headers, Slack and hooks."""
    body = probes.slack_message("balance", "EvMalformed").encode()
    cases = [("/slack/events", h) for h in probes.malformed_slack_headers()]
    cases += [("/hooks/pay", h) for h in probes.malformed_hook_headers()]
    cases = cases * 3
    statuses = [probes.request(url, path, h, body) for path, h in cases]
    fives = sum(1 for s in statuses if s is not None and s >= 500)
    odd = sum(1 for s in statuses if s is None or not 400 <= s < 500)
    return len(statuses), fives, odd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stalled", type=int, default=200)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--floods", type=int, default=4)
    args = ap.parse_args()
    fake = FakeSlack()
    with tempfile.TemporaryDirectory() as tmp, serve(fake.app()) as fake_url:
        proc, url, log = start_server(tmp, fake_url, fake.token)
        try:
            reply_time(url, fake, "warm")
            alone = median_reply(url, fake, "alone")
            fds0 = probes.open_fds(proc.pid)
            with probes.stalled(url, "/slack/events", args.stalled) as socks:
                t_open = time.monotonic()
                stalled = median_reply(url, fake, "stalled")
                fds1 = probes.open_fds(proc.pid)
                # Long past every default timeout (body 10 s): are the stalled connections still held?
                wait_for(lambda: time.monotonic() - t_open > 15, timeout=30, interval=0.2, what="15 s")
                still_open = sum(1 for s in socks if not probes.closed_by_server(s, 0.01))
                fds2 = probes.open_fds(proc.pid)
            n, fives, odd = malformed(url)
            before, peak, after, statuses = rss_under_floods(proc.pid, url, args.floods, args.mb)
        finally:
            proc.terminate()
            proc.wait(30)
        text = log.read_text(errors="replace")
    print("coo serve on loopback (subprocess), Slack HTTP mode + one hook, embedded SQLite")
    print(
        f"operator's balance reply        alone {alone * 1000:7.0f} ms   with {args.stalled} stalled bodies "
        f"{stalled * 1000:7.0f} ms   ratio {stalled / alone:5.2f}"
    )
    print(
        f"server fds                       before {fds0}   {args.stalled} stalled {fds1}   "
        f"15 s later {fds2} ({still_open} of {args.stalled} still open)"
    )
    print(f"malformed signature headers      {n} requests   5xx {fives}   not 4xx {odd}")
    print(
        f"{args.floods} x {args.mb} MB chunked bodies   RSS before {before:.0f} MiB   peak {peak:.0f} MiB   "
        f"after {after:.0f} MiB   answers {statuses}"
    )
    print(f"tracebacks in the server log     {text.count('Traceback')}")


if __name__ == "__main__":
    main()
