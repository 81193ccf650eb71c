"""Placement (COO_PLACEMENT): a sensitive agent plans on a local endpoint, and none of its data ever
reaches an endpoint that is not marked local, whatever the request, including the injection suite's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.console import ConsoleSession
from bot.doctor import check_placement
from bot.runs_view import trace_text
from graph.placement import parse_placement
from graph.trace import HOST
from memory.knowledge.embedders import HashingEmbedder
from memory.tables import Run
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI, text
from tests.fakes.server import serve
from tests.security import suite

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SECRETS = ("XYZZY-LEDGER", "QUUX-CLIENT")


@pytest.fixture
def endpoints() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """A recording "cloud" endpoint (the default one) and a "laptop" one marked local."""
    cloud = FakeOpenAI(script=lambda body: text("ok"))
    laptop = FakeOpenAI(script=lambda body: text("ok"))
    with serve(cloud.app()) as c, serve(laptop.app()) as lp:
        cloud.base_url, laptop.base_url = c + "/v1", lp + "/v1"  # type: ignore[attr-defined]
        yield cloud, laptop


def _placement(laptop_url: str) -> str:
    return json.dumps(
        {
            "endpoints": {"laptop": {"base_url": laptop_url, "model": "smollm2", "local": True}},
            "agents": {"bookkeeping": {"endpoint": "laptop", "queue": "local", "sensitive": True}},
        }
    )


def _leaks(fake: FakeOpenAI) -> list[str]:
    bodies = [json.dumps(b) for b in fake.requests]
    return [s for s in SECRETS for b in bodies if s in b]


@SQLITE
def test_a_sensitive_agents_data_never_reaches_the_cloud(app_factory, endpoints):
    cloud, laptop = endpoints
    # The hashing embedder, as the injection suite itself uses: what is checked is where text is sent,
    # not how well it is recalled (the real encoder took three quarters of this test's time: 42.8 s → 11.3 s).
    app = app_factory(
        embedder=HashingEmbedder(),
        settings={
            "openai_api_key": "sk-cloud",
            "openai_base_url": cloud.base_url,
            "coo_model": "gpt-4o-mini",
            "coo_placement": _placement(laptop.base_url),
        }
    )
    session = ConsoleSession(app)
    # The sensitive agent's rows: an expense and an invoice (exact commands: no model call).
    for line in (f"expense 40 coffee beans {SECRETS[0]}", f"invoice {SECRETS[1]} 900 coffee audit"):
        assert [r for r in session.send(line) if r.card]
        session.send("approve")
    # Questions for the sensitive agent go to the laptop, which sees its rows.
    session.send("how much did I spend on coffee this month?")
    assert laptop.requests and SECRETS[0] in json.dumps(laptop.requests[-1])
    # `coo trace` says, per step, which endpoint planned it and where it ran.
    with Session(app.db) as s:
        asked = s.exec(select(Run).order_by(col(Run.created_at).desc())).first()
    assert asked is not None
    laptop_trace = trace_text(app, asked.id) or ""
    assert "endpoint=laptop" in laptop_trace and f"ran on {HOST} (inline)" in laptop_trace, laptop_trace
    # Anything else goes to the cloud, in the same thread: no history, rows, notes or results of it.
    session.send("remind me to buy more coffee beans before the audit")
    assert cloud.requests, "the request went to the cloud endpoint"
    assert _leaks(cloud) == []
    # The trace says what was withheld, and which endpoint planned.
    with Session(app.db) as s:
        run = s.exec(select(Run).order_by(col(Run.created_at).desc())).first()
    assert run is not None
    trace = trace_text(app, run.id) or ""
    assert "withheld:history" in trace and "openai:gpt-4o-mini" in trace and "endpoint=default" in trace, (
        trace
    )

    # The injection suite's cases, planned by a compromised cloud model, in the same workspace.
    for name, task, goal, surface in suite.cases():
        suite.run_case(app, cloud, name, task, goal, surface, compromised=True)
    assert len(cloud.requests) > 20
    assert _leaks(cloud) == []


def test_placement_reads_json_toml_and_files(tmp_path):
    toml = '[agents.bookkeeping]\nendpoint = "laptop"\nsensitive = true\n[endpoints.laptop]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\nlocal = true\n'
    p = tmp_path / "placement.toml"
    p.write_text(toml)
    for value in (
        toml,
        str(p),
        json.dumps(
            {
                "agents": {"bookkeeping": {"endpoint": "laptop", "sensitive": True}},
                "endpoints": {"laptop": {"base_url": "http://127.0.0.1:1/v1", "model": "m", "local": True}},
            }
        ),
    ):
        placement = parse_placement(value)
        assert placement.sensitive() == ("bookkeeping",) and placement.of("bookkeeping").endpoint == "laptop"
    with pytest.raises(ValueError, match="neither JSON nor TOML"):
        parse_placement("{not json")
    with pytest.raises(ValueError, match="cannot be read"):
        parse_placement(str(tmp_path / "missing.toml"))


def test_doctor_validates_the_placement(tmp_path, endpoints):
    _, laptop = endpoints
    bad: dict[str, Any] = {
        "endpoints": {"cloudy": {"base_url": laptop.base_url, "model": "m"}},
        "agents": {
            "bookkeeping": {"endpoint": "cloudy", "sensitive": True},
            "payroll": {},
            "crm": {"endpoint": "nowhere"},
        },
    }
    with httpx.Client() as client:
        s = make_settings(tmp_path, coo_placement=json.dumps(bad))
        check = check_placement(s, client)
        assert check is not None and not check.ok
        assert "'payroll' is not one of" in check.detail and "'nowhere'" in check.detail
        assert "sensitive but its endpoint 'cloudy' is not marked local" in check.detail
        good = make_settings(tmp_path, coo_placement=_placement(laptop.base_url))
        check = check_placement(good, client)
    assert (
        check is not None
        and check.ok
        and "sensitive: bookkeeping" in check.detail
        and "local" in check.detail
    )


@pytest.mark.postgres
@pytest.mark.redis
def test_a_local_queue_job_is_run_only_by_the_local_worker(tmp_path, use_embedder):
    import uuid

    import redis

    from bot.app import App
    from bot.commands import status
    from bot.jobs import REINDEX_KIND
    from bot.queues import waiting_lines
    from memory.job_tables import Job
    from tests.fakes.server import wait_for
    from tests.services import fresh_postgres_database, redis_url

    url, namespace = redis_url(), f"coo-test-{uuid.uuid4().hex[:8]}"
    placement = json.dumps({"agents": {"knowledge": {"queue": "local"}}})
    with fresh_postgres_database() as db_url:
        shared = {
            "redis_url": url,
            "coo_redis_namespace": namespace,
            "database_url": db_url,
            "coo_placement": placement,
        }
        try:
            with App(make_settings(tmp_path / "cloud", **shared), embedder=use_embedder) as cloud:
                workers = cloud.start_workers()
                assert workers.queues is not None and "local" not in workers.queues and workers.queues
                job = cloud.jobs.submit(
                    REINDEX_KIND, key=f"reindex:{uuid.uuid4().hex}", args={}, conversation="console:t"
                )
                # The deployed worker is alive and does not take the local queue: the job waits, and says so.
                wait_for(lambda: waiting_lines(cloud), timeout=30, what="the waiting line")
                [line] = waiting_lines(cloud)
                assert "1 job(s) waiting on queue 'local'" in line and "--queues local" in line
                assert line in status(cloud, "console:local")[0].text
                ticks = workers.ticks
                wait_for(lambda: workers.ticks >= ticks + 2, timeout=30, what="two maintenance rounds")
                assert cloud.jobs.get(job.id).status == "queued"  # type: ignore[union-attr]
                local_settings = make_settings(tmp_path / "laptop", coo_worker_queues=["local"], **shared)
                with App(local_settings, embedder=use_embedder) as laptop:
                    assert laptop.start_workers().queues == {"local"}
                    wait_for(lambda: cloud.jobs.get(job.id).status == "done", timeout=60, what="the job")  # type: ignore[union-attr]
                    with Session(cloud.db) as s:
                        row = s.get(Job, job.id)
                    assert row is not None and row.worker == laptop.jobs.runner.worker
                    wait_for(lambda: not waiting_lines(cloud), timeout=30, what="no waiting line")
        finally:
            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(f"{namespace}*"))
            if keys:
                client.delete(*keys)
