"""The connector contract for webhooks.post: its side-effect class, one effect per idempotency key, and
an Undo that is refused with a clear message (a POST cannot be taken back). Against a loopback receiver."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.contract import SideEffect
from agents.errors import NotReversible
from graph.jobs.runner import JobRunner
from graph.policy import Policy
from memory import eventlog
from memory.job_tables import Job
from tests.fakes.server import serve
from tests.fakes.webhook_receiver import Receiver

SECRET = "whsec_contract_0123456789"
ARGS = {"target": "crm", "payload": {"deal": "Dana"}}


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    with serve(r.app) as url:
        r.url = url  # type: ignore[attr-defined]
        yield r


@pytest.fixture
def app(app_factory, receiver):
    return app_factory(
        settings={
            "coo_operators": ["test:U1"],
            "coo_webhooks": {"crm": {"url": receiver.url + "/crm", "secret": SECRET}},
        }
    )


def runner(app) -> JobRunner:
    return JobRunner(app.db, app.jobs.kinds, app.notifier, worker="t", resend=lambda *a: None)


def test_post_is_irreversible_and_always_asks_even_when_trusted(app):
    op = app.registry.get("webhooks.post")
    assert op.side_effect is SideEffect.IRREVERSIBLE and op.compensate is None
    action = app.registry.propose("webhooks.post", ARGS, run_id="r1", index=0)
    assert not action.reversible
    trusting = Policy(trust={"webhooks.post": "auto"})
    assert trusting.decide(action).verdict == "ask"
    assert app.policy.decide(action).verdict == "ask"


def test_same_idempotency_key_twice_gives_one_delivery(app, receiver):
    # Given one approved action executed twice (a resumed graph re-running its execute node)
    action = app.registry.propose("webhooks.post", ARGS, run_id="r1", index=0)
    ex = app.engine.executor
    first = ex.execute(action, run_id="r1", conversation="", actor="test:U1")
    again = ex.execute(action, run_id="r1", conversation="", actor="test:U1")
    assert first.ok and again.duplicate and again.event_id == first.event_id
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "webhooks.post")).all()
    # When its job is delivered twice by the broker (at least once)
    r = runner(app)
    assert r.run(job.id) == "done"
    assert r.run(job.id) == "skipped"
    # Then the receiver got one request, under the action's key
    assert [q.headers["idempotency-key"] for q in receiver.requests] == [action.idempotency_key]
    assert list(receiver.effects) == [action.idempotency_key]


def test_undo_is_refused_with_a_clear_message(app, receiver):
    action = app.registry.propose("webhooks.post", ARGS, run_id="r1", index=0)
    done = app.engine.executor.execute(action, run_id="r1", conversation="", actor="test:U1")
    assert done.ok and not done.reversible
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "webhooks.post")).all()
    assert runner(app).run(job.id) == "done"
    [notice] = app.engine.undo(done.event_id, "test:U1", app.is_operator)
    assert notice.text == "That action cannot be undone."
    with Session(app.db) as s:
        assert eventlog.compensation_of(s, done.event_id) is None
    with pytest.raises(NotReversible, match="cannot be undone"):
        app.engine.executor.undo(done.event_id, run_id="u", actor="test:U1")
    assert receiver.count() == 1
