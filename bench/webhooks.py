"""Time-to-answer of inbound webhooks, against the same server's /healthz as the baseline.

coo's real server (Starlette on uvicorn, embedded SQLite) runs on loopback with one payment hook. N
signed payment notices are posted one after another and the time to each 202 is measured (signature
check, body validation, the replay marker and the inbox write happen before it; the card is made
after). The baseline is N ``GET /healthz`` (one database round trip) on the same server in the same run.
Prints p50/p95 of both and their ratio, then how long until every card was posted.

Run: .venv/bin/python bench/webhooks.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bot.app import App  # noqa: E402
from bot.server import build_server, configured_mounts  # noqa: E402
from bot.settings import Settings  # noqa: E402
from connectors.webhooks import signature_header  # noqa: E402
from tests.fakes.outbound import RecordingOutbound  # noqa: E402
from tests.fakes.server import serve, wait_for  # noqa: E402

SECRET = "whsec_bench_0123456789"


def pct(xs: list[float], p: float) -> float:
    """Return the p-th percentile (0–100) in milliseconds."""
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            coo_data_dir=Path(tmp),
            coo_operators=["test:U1"],
            coo_hooks={"stripe": {"secret": SECRET, "kind": "payment"}},
            coo_hooks_to="test:C1",
            coo_rate_per_minute=100_000,
        )
        with App(settings) as app:
            out = RecordingOutbound()
            app.notifier.register("test", out)
            started = time.perf_counter()
            with serve(build_server(app, configured_mounts(app)), lifespan="on") as url, httpx.Client() as c:
                health, hooks = [], []
                for i in range(n):
                    t = time.perf_counter()
                    assert c.get(url + "/healthz").status_code == 200
                    health.append(time.perf_counter() - t)
                    body = json.dumps(
                        {"amount": f"{i + 1}.00", "currency": "EUR", "payer": "Bench", "reference": f"r{i}"}
                    ).encode()
                    headers = {
                        "Webhook-Id": f"evt_{i}",
                        "Webhook-Signature": signature_header(SECRET, int(time.time()), body),
                    }
                    t = time.perf_counter()
                    assert c.post(url + "/hooks/stripe", content=body, headers=headers).status_code == 202
                    hooks.append(time.perf_counter() - t)
                wait_for(lambda: len(out.sent) >= n, timeout=600, what="every card")
            total = time.perf_counter() - started
    print(f"n={n} sequential requests, embedded SQLite, loopback")
    print(f"GET /healthz         p50 {pct(health, 50):6.1f} ms  p95 {pct(health, 95):6.1f} ms")
    print(f"POST /hooks/stripe   p50 {pct(hooks, 50):6.1f} ms  p95 {pct(hooks, 95):6.1f} ms")
    print(f"ratio (p50)          {statistics.median(hooks) / statistics.median(health):.2f}x")
    print(f"all {n} cards posted {total:.1f} s after the first request ({n / total:.1f} cards/s)")


if __name__ == "__main__":
    main()
