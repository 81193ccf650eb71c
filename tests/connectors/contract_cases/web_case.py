"""Web research's contract case (a real loopback website): ``research.research``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from graph.errors import AlreadyDone
from memory.job_tables import Job
from memory.knowledge.tables import KnowledgeItem
from tests.connectors.contract_cases import Case


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


def replay(request: pytest.FixtureRequest) -> None:
    sitestate, base = request.getfixturevalue("site")
    app = research_app(request.getfixturevalue("app_factory"))
    action = propose(app, [f"{base}/page/a"])
    first, second = execute(app, action), execute(app, action)
    assert first.ok and second.duplicate and first.event_id == second.event_id
    assert app.engine.executor.effect_calls == 1
    [job] = research_jobs(app)
    assert job.key == action.idempotency_key
    assert app.jobs.runner.run(job.id) == "done"
    assert app.jobs.runner.run(job.id) == "skipped"  # a redelivered message
    assert sitestate.count("/page/a") == 1 and list(live_pages(app).values()) == [f"web:{base}/page/a"]


def restore(request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    _, base = request.getfixturevalue("site")
    app = research_app(request.getfixturevalue("app_factory"))
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
    return app, done, before


def twice(request: pytest.FixtureRequest) -> None:
    app, done, before = restore(request)
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(done.event_id, run_id="u2", actor="console:local")
    assert live_pages(app) == before


CASES = [Case("research.research", replay, restore, twice)]
