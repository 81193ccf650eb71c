from __future__ import annotations

import httpx

from bot.console import ConsoleSession
from bot.server import build_server
from tests.fakes.server import serve


def test_metrics_count_messages_runs_approvals_and_events(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    chat.send("expense 3 tea")
    chat.send("approve")
    chat.send("expense 4 cake")
    with serve(build_server(app, [])) as url:
        text = httpx.get(f"{url}/metrics").text
        health = httpx.get(f"{url}/healthz").json()
    assert "# TYPE coo_runs_total counter" in text
    assert 'coo_runs_total{status="done"} 1' in text and 'coo_runs_total{status="waiting"} 1' in text
    assert (
        'coo_approvals_total{status="approved"} 1' in text
        and 'coo_approvals_total{status="pending"} 1' in text
    )
    assert 'coo_events_total{kind="effect"} 1' in text
    assert "coo_errors_total 0" in text and "coo_spend_usd_total 0.0" in text
    assert health["ok"] is True and health["database"] == "ok"
