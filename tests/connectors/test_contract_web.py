"""The connector contract for web fetch and research: declared side-effect classes, one job and one fetch
per idempotency key, and compensation that restores the prior state (or says clearly why not yet).
A real loopback website; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from agents.contract import SideEffect
from connectors.web import Fetcher
from graph.errors import AlreadyDone
from memory import jobs
from memory.job_tables import Job
from memory.knowledge.tables import KnowledgeItem
from memory.tables import utcnow
from tests.fakes.web_server import web_site


@pytest.fixture
def site():
    with web_site() as s:
        yield s


def research_app(app_factory, **settings):
    return app_factory(settings={"coo_fetch_allow_private": True, "coo_research_retries": 0, **settings})


def execute(app, action):
    return app.engine.executor.execute(action, run_id="r1", conversation="", actor="console:local")


def live_pages(app) -> dict[int, str]:
    with Session(app.db) as s:
        rows = s.exec(select(KnowledgeItem).where(KnowledgeItem.kind == "document")).all()
    return {r.id: r.source for r in rows if r.deleted_at is None}


def research_jobs(app) -> list[Job]:
    with Session(app.db) as s:
        return list(s.exec(select(Job).where(Job.kind == "research.fetch")).all())


def propose(app, urls, index=0):
    return app.registry.propose("research.research", {"urls": urls}, run_id="r1", index=index)


def test_operations_declare_their_side_effect_and_compensation(app_factory):
    app = research_app(app_factory)
    research, recall = app.registry.get("research.research"), app.registry.get("research.recall")
    assert research.side_effect is SideEffect.REVERSIBLE and research.compensate is not None
    assert (recall.side_effect, recall.compensate) == (SideEffect.READ, None)
    assert Fetcher.side_effect == SideEffect.READ.value


def test_action_executed_twice_gives_one_job_one_effect_and_one_fetch(app_factory, site):
    sitestate, base = site
    app = research_app(app_factory)
    action = propose(app, [f"{base}/page/a"])
    first, second = execute(app, action), execute(app, action)
    assert first.ok and second.duplicate and first.event_id == second.event_id
    assert app.engine.executor.effect_calls == 1
    [job] = research_jobs(app)
    assert job.key == action.idempotency_key
    assert app.jobs.runner.run(job.id) == "done"
    assert app.jobs.runner.run(job.id) == "skipped"  # a redelivered message
    assert sitestate.count("/page/a") == 1 and list(live_pages(app).values()) == [f"web:{base}/page/a"]


def test_undo_before_the_job_starts_cancels_it(app_factory, site):
    sitestate, base = site
    app = research_app(app_factory)
    done = execute(app, propose(app, [f"{base}/page/a"]))
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "Cancelled the research before it started; nothing was fetched."
    [job] = research_jobs(app)
    assert job.status == "cancelled"
    assert app.jobs.runner.run(job.id) == "skipped" and sitestate.hits == [] and live_pages(app) == {}
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(done.event_id, run_id="u2", actor="console:local")


def test_undo_after_the_job_forgets_only_what_it_stored(app_factory, site):
    _, base = site
    app = research_app(app_factory)
    # Given page b is already in memory from an earlier research...
    earlier = execute(app, propose(app, [f"{base}/page/b"], index=0))
    [first_job] = research_jobs(app)
    assert app.jobs.runner.run(first_job.id) == "done"
    before = live_pages(app)
    # ...a second research reads a and b; its undo forgets a and leaves b as it was.
    done = execute(app, propose(app, [f"{base}/page/a", f"{base}/page/b"], index=1))
    job = next(j for j in research_jobs(app) if j.id != first_job.id)
    assert app.jobs.runner.run(job.id) == "done"
    assert len(live_pages(app)) == 2
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text.startswith("Forgot the pages the research stored (#")
    assert live_pages(app) == before
    assert earlier.event_id != done.event_id


def test_undo_while_running_is_refused_clearly_and_changes_nothing(app_factory, site):
    from agents.errors import NotReversible

    _, base = site
    app = research_app(app_factory)
    done = execute(app, propose(app, [f"{base}/page/a"]))
    [job] = research_jobs(app)
    assert jobs.claim(app.db, job.id, worker="w1", lease=timedelta(seconds=30), now=utcnow()) is not None
    with pytest.raises(NotReversible, match="running now; Undo again once it has finished"):
        app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert app.jobs.get(job.id).status == "running"


def test_undo_of_a_failed_research_stops_its_retry(app_factory, site):
    _, base = site
    app = research_app(app_factory)
    done = execute(app, propose(app, [f"{base}/image.png"]))
    [job] = research_jobs(app)
    assert app.jobs.runner.run(job.id) == "dead"
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "The research had failed and stored nothing; it will not be retried."
    assert app.jobs.get(job.id).status == "cancelled"
    assert app.jobs.retry(job.id) is None  # the Retry button finds nothing to retry
