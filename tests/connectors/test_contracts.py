"""The connector contract suite, one parametrised suite over every reversible operation of every spec
(the cases: ``tests/connectors/contract_cases/``): a replayed idempotency key acts once, the compensation
restores the prior state, and compensating twice changes nothing more. Then what each connector promises
beyond that: declared side-effect classes, refusals that say why, and irreversible operations
(webhooks.post, sending a draft). Real Radicale, a loopback website and receiver; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from caldav.davclient import DAVClient
from sqlmodel import Session, select

from agents.contract import SideEffect
from agents.errors import NotReversible, PrecheckFailed
from connectors.calendar import CalDavCalendar, NewEvent, event_uid
from connectors.web import Fetcher
from graph.errors import AlreadyDone
from graph.jobs.runner import JobRunner
from graph.policy import Policy
from memory import eventlog, jobs
from memory.job_tables import Job
from memory.tables import utcnow
from tests.agents.books import REGISTRY, books_engine, state, undo
from tests.agents.books import run as books_run
from tests.connectors.contract_cases import Case, all_cases
from tests.connectors.contract_cases.calendar_case import ARGS as CALENDAR_ARGS
from tests.connectors.contract_cases.calendar_case import BERLIN, caldav_app
from tests.connectors.contract_cases.calendar_case import execute as calendar_execute
from tests.connectors.contract_cases.crm_case import SEED as CRM_SEED
from tests.connectors.contract_cases.crm_case import run as crm_run
from tests.connectors.contract_cases.ledger_case import WRITES as LEDGER_WRITES
from tests.connectors.contract_cases.web_case import execute as web_execute
from tests.connectors.contract_cases.web_case import live_pages, propose, research_app, research_jobs
from tests.fakes.radicale_server import Radicale, radicale_with_calendar, stored_events
from tests.fakes.server import serve
from tests.fakes.web_server import web_site
from tests.fakes.webhook_receiver import Receiver

CASES = all_cases()


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with radicale_with_calendar(tmp_path / "radicale") as server:
        yield server


@pytest.fixture
def site():
    with web_site() as s:
        yield s


# --- the contract of every reversible operation -------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_same_idempotency_key_twice_is_one_effect(case: Case, request, database_url) -> None:
    case.replay(request)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_compensation_restores_the_prior_state(case: Case, request, database_url) -> None:
    case.restore(request)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_compensating_twice_changes_nothing_more(case: Case, request, database_url) -> None:
    case.twice(request)


# --- calendar ----------------------------------------------------------------------------------------


def test_calendar_operations_declare_their_side_effect_and_compensation(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    upcoming, create = app.registry.get("calendar.upcoming"), app.registry.get("calendar.create_event")
    assert (upcoming.side_effect, upcoming.compensate) == (SideEffect.READ, None)
    assert create.side_effect is SideEffect.REVERSIBLE and create.compensate is not None


def test_calendar_connector_same_key_twice_gives_one_event(radicale):
    with DAVClient(url=radicale.url + "/", username=radicale.username, password=radicale.password) as c:
        cal = CalDavCalendar(c, BERLIN, "Work")
        start = datetime(2026, 12, 3, 14, tzinfo=BERLIN)
        new = NewEvent("Call", start, start + timedelta(hours=1))
        first = cal.create(new, "act_same", stamp=datetime.now(UTC))
        second = cal.create(new, "act_same", stamp=datetime.now(UTC))
        other = cal.create(new, "act_other", stamp=datetime.now(UTC))
    assert (first.created, second.created, other.created) == (True, False, True)
    assert first.uid == second.uid == event_uid("act_same") and first.url == second.url
    assert stored_events(radicale) == {event_uid("act_same"): "Call", event_uid("act_other"): "Call"}


def test_calendar_event_on_the_server_but_not_recorded_is_not_created_again(app_factory, radicale):
    # Given: the event was created, then the process died before the effect was recorded.
    app = caldav_app(app_factory, radicale)
    action = app.registry.propose("calendar.create_event", CALENDAR_ARGS, run_id="r1", index=0)
    assert app.calendar is not None and app.calendar.writer is not None
    start = datetime(2026, 12, 3, 14, tzinfo=BERLIN)
    app.calendar.writer.create(
        NewEvent("Call with Dana", start, start + timedelta(minutes=45)),
        action.idempotency_key,
        datetime.now(UTC),
    )
    # When: the action runs again after the restart. Then: it finds that event; the server has one.
    result = calendar_execute(app, action)
    assert result.ok and result.event_id and not result.duplicate
    assert stored_events(radicale) == {event_uid(action.idempotency_key): "Call with Dana"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_calendar_a_read_only_calendar_refuses_writes(app_factory, tmp_path):
    feed = tmp_path / "feed.ics"
    feed.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nEND:VCALENDAR\n")
    app = app_factory(settings={"coo_calendar_ics": str(feed)})
    action = app.registry.propose("calendar.create_event", CALENDAR_ARGS, run_id="r1", index=0)
    # Refused before any card, by the operation's pre-check, with what to do.
    assert app.registry.prechecks(action.name)
    with Session(app.db) as s, pytest.raises(PrecheckFailed) as refused:
        app.registry.precheck(action, s)
    assert "read-only" in str(refused.value) and "COO_CALDAV_URL" in str(refused.value)
    # Even if it were executed, it changes nothing and says why.
    result = calendar_execute(app, action)
    assert not result.ok and "The calendar is read-only" in result.text and result.event_id is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_calendar_undo_of_an_event_deleted_meanwhile_changes_nothing_and_says_so(app_factory, radicale):
    app = caldav_app(app_factory, radicale)
    action = app.registry.propose("calendar.create_event", CALENDAR_ARGS, run_id="r1", index=0)
    done = calendar_execute(app, action)
    # Given: the operator deleted the event in their calendar app.
    with DAVClient(url=radicale.url + "/", username=radicale.username, password=radicale.password) as c:
        assert CalDavCalendar(c, BERLIN, "Work").delete(event_uid(action.idempotency_key))
    # When undone: nothing to delete, no error, and the undo is recorded once.
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "The event 'Call with Dana' was already gone from the calendar; nothing to delete."
    assert stored_events(radicale) == {}


# --- CRM and drafts ----------------------------------------------------------------------------------


def test_crm_sending_a_draft_is_irreversible_and_undo_after_the_window_is_refused(app_factory):
    settings = {"smtp_url": "smtp://127.0.0.1:1", "coo_email_from": "coo@example.com", "coo_undo_window_s": 0}
    app = app_factory(settings=settings)
    _, made = crm_run(app, *CRM_SEED[2], "seed")
    assert made.ok
    with Session(app.db) as s:
        key, args = app.registry.expand("drafts.send_draft", {"draft_id": 1}, s)
    assert (key, args) == (
        "outreach.send_email",
        {"to": "dana@acme.com", "subject": "Hello", "body": "Hi", "draft_id": 1},
    )
    assert app.registry.get(key).side_effect is SideEffect.IRREVERSIBLE
    action, sent = crm_run(app, key, args, "s1")
    again = app.engine.executor.execute(action, run_id="s1", conversation="c", actor="console:local")
    assert again.duplicate and again.event_id == sent.event_id
    with Session(app.db) as s:
        assert len(s.exec(select(Job)).all()) == 1  # one send scheduled
    with pytest.raises(NotReversible, match=r"^Too late: the undo window closed at .*is being sent\.$"):
        app.engine.executor.undo(sent.event_id, run_id="u", actor="console:local")


# --- ledger ------------------------------------------------------------------------------------------


def test_ledger_every_operation_declares_its_side_effect_class():
    ops = {op.name: op for op in REGISTRY.offered() if op.agent == "bookkeeping"}
    assert {n: ops[n].side_effect for n in ops} == {
        "record_expense": SideEffect.REVERSIBLE,
        "record_income": SideEffect.REVERSIBLE,
        "create_invoice": SideEffect.REVERSIBLE,
        "mark_paid": SideEffect.REVERSIBLE,
        "balance": SideEffect.READ,
        "list_invoices": SideEffect.READ,
        "summary": SideEffect.READ,
    }
    assert all(ops[n].compensate is not None for n in LEDGER_WRITES)


def test_ledger_compensation_of_a_paid_invoice_is_refused_clearly(tmp_path):
    with books_engine(tmp_path, None) as engine:
        inv = books_run(engine, "create_invoice", LEDGER_WRITES["create_invoice"])
        books_run(engine, "mark_paid", {"number": inv.payload["number"]})
        before = state(engine)
        with pytest.raises(NotReversible, match=r"is paid: undo the payment first"):
            undo(engine, "create_invoice", inv.compensation or {})
        assert state(engine) == before


# --- web research ------------------------------------------------------------------------------------


def test_web_operations_declare_their_side_effect_and_compensation(app_factory):
    app = research_app(app_factory)
    research, recall = app.registry.get("research.research"), app.registry.get("research.recall")
    assert research.side_effect is SideEffect.REVERSIBLE and research.compensate is not None
    assert (recall.side_effect, recall.compensate) == (SideEffect.READ, None)
    assert Fetcher.side_effect == SideEffect.READ.value


def test_web_undo_before_the_job_starts_cancels_it(app_factory, site):
    sitestate, base = site
    app = research_app(app_factory)
    done = web_execute(app, propose(app, [f"{base}/page/a"]))
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "Cancelled the research before it started; nothing was fetched."
    [job] = research_jobs(app)
    assert job.status == "cancelled"
    assert app.jobs.runner.run(job.id) == "skipped" and sitestate.hits == [] and live_pages(app) == {}
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(done.event_id, run_id="u2", actor="console:local")


def test_web_undo_while_running_is_refused_clearly_and_changes_nothing(app_factory, site):
    _, base = site
    app = research_app(app_factory)
    done = web_execute(app, propose(app, [f"{base}/page/a"]))
    [job] = research_jobs(app)
    assert jobs.claim(app.db, job.id, worker="w1", lease=timedelta(seconds=30), now=utcnow()) is not None
    with pytest.raises(NotReversible, match="running now; Undo again once it has finished"):
        app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert app.jobs.get(job.id).status == "running"


def test_web_undo_of_a_failed_research_stops_its_retry(app_factory, site):
    _, base = site
    app = research_app(app_factory)
    done = web_execute(app, propose(app, [f"{base}/image.png"]))
    [job] = research_jobs(app)
    assert app.jobs.runner.run(job.id) == "dead"
    undone = app.engine.executor.undo(done.event_id, run_id="u1", actor="console:local")
    assert undone.text == "The research had failed and stored nothing; it will not be retried."
    assert app.jobs.get(job.id).status == "cancelled"
    assert app.jobs.retry(job.id) is None  # the Retry button finds nothing to retry


# --- webhooks (irreversible: no compensation, an Undo refused plainly) -------------------------------

SECRET = "whsec_contract_0123456789"
WEBHOOK_ARGS = {"target": "crm", "payload": {"deal": "Dana"}}


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    with serve(r.app) as url:
        r.url = url  # type: ignore[attr-defined]
        yield r


@pytest.fixture
def webhooks_app(app_factory, receiver):
    return app_factory(
        settings={
            "coo_operators": ["test:U1"],
            "coo_webhooks": {"crm": {"url": receiver.url + "/crm", "secret": SECRET}},
        }
    )


def webhooks_runner(app) -> JobRunner:
    return JobRunner(app.db, app.jobs.kinds, app.notifier, worker="t", resend=lambda *a: None)


def test_webhooks_post_is_irreversible_and_always_asks_even_when_trusted(webhooks_app):
    app = webhooks_app
    op = app.registry.get("webhooks.post")
    assert op.side_effect is SideEffect.IRREVERSIBLE and op.compensate is None
    action = app.registry.propose("webhooks.post", WEBHOOK_ARGS, run_id="r1", index=0)
    assert not action.reversible
    trusting = Policy(trust={"webhooks.post": "auto"})
    assert trusting.decide(action).verdict == "ask"
    assert app.policy.decide(action).verdict == "ask"


def test_webhooks_same_idempotency_key_twice_gives_one_delivery(webhooks_app, receiver):
    app = webhooks_app
    # Given one approved action executed twice (a resumed graph re-running its execute node)
    action = app.registry.propose("webhooks.post", WEBHOOK_ARGS, run_id="r1", index=0)
    ex = app.engine.executor
    first = ex.execute(action, run_id="r1", conversation="", actor="test:U1")
    again = ex.execute(action, run_id="r1", conversation="", actor="test:U1")
    assert first.ok and again.duplicate and again.event_id == first.event_id
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "webhooks.post")).all()
    # When its job is delivered twice by the broker (at least once)
    r = webhooks_runner(app)
    assert r.run(job.id) == "done"
    assert r.run(job.id) == "skipped"
    # Then the receiver got one request, under the action's key
    assert [q.headers["idempotency-key"] for q in receiver.requests] == [action.idempotency_key]
    assert list(receiver.effects) == [action.idempotency_key]


def test_webhooks_undo_is_refused_with_a_clear_message(webhooks_app, receiver):
    app = webhooks_app
    action = app.registry.propose("webhooks.post", WEBHOOK_ARGS, run_id="r1", index=0)
    done = app.engine.executor.execute(action, run_id="r1", conversation="", actor="test:U1")
    assert done.ok and not done.reversible
    with Session(app.db) as s:
        [job] = s.exec(select(Job).where(Job.kind == "webhooks.post")).all()
    assert webhooks_runner(app).run(job.id) == "done"
    [notice] = app.engine.undo(done.event_id, "test:U1", app.is_operator)
    assert notice.text == "That action cannot be undone."
    with Session(app.db) as s:
        assert eventlog.compensation_of(s, done.event_id) is None
    with pytest.raises(NotReversible, match="cannot be undone"):
        app.engine.executor.undo(done.event_id, run_id="u", actor="test:U1")
    assert receiver.count() == 1
