"""The daily digest: its content, no model call unless there is something to summarise, exactly once per
day across processes (sent by the `daily-digest` playbook's schedule), one catch-up after downtime, and
`coo digest --now`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select

from bot.console import ConsoleSession
from bot.digest import DIGEST_KIND, DigestSources, collect, render
from bot.playbooks import service
from graph.jobs.workers import Workers
from graph.playbooks.queries import QueryContext
from graph.playbooks.schedule import PLAYBOOK_KIND, PlaybookScheduler, slot_key
from graph.playbooks.shipped import daily_digest
from memory import eventlog, jobs
from memory import playbooks as store
from memory.db import transaction
from memory.job_tables import DigestSlot, Job
from memory.playbook_tables import PlaybookRun
from memory.tables import Event, Spend, utcnow
from tests.fakes.openai_server import FakeOpenAI, text
from tests.fakes.outbound import RecordingOutbound
from tests.fakes.server import serve, wait_for

PARIS = ZoneInfo("Europe/Paris")


def tomorrow() -> date:
    """The digest day whose "yesterday" is today (so what the test does today is in it)."""
    return datetime.now(ZoneInfo("UTC")).date() + timedelta(days=1)


def sources(app) -> DigestSources:
    return DigestSources(db=app.db, approvals=app.approvals, ledger=app.ledger)


def run_digest_job(app, day: date, conversation: str = "test:C1") -> Job:
    """Run one digest job here and now (as `coo digest --now` does) and return it, finished."""
    job = app.jobs.submit(
        DIGEST_KIND,
        key=f"digest:test:{utcnow().timestamp()}",
        args={"day": day.isoformat()},
        conversation=conversation,
    )
    assert app.jobs.runner.run(job.id) == "done"
    done = app.jobs.get(job.id)
    assert done is not None
    return done


def test_digest_lists_actions_with_cost_approvals_spend_tasks_and_failures(app_factory):
    app = app_factory(settings={"coo_budget_daily_usd": 2.0})
    chat = ConsoleSession(app)
    chat.send("expense 12.50 coffee with Dana")
    chat.send("approve")
    chat.send("task call the accountant")
    chat.send("approve")
    chat.send("task order ink")
    chat.send("approve")
    chat.send("undo")  # the ink task is undone
    chat.send("income 300 consulting")  # left waiting for a decision
    with Session(app.db) as s:
        first = s.exec(select(Event).where(Event.kind == "effect").order_by(Event.seq)).first()
    with transaction(app.db) as s:  # the expense's run cost something
        s.add(
            Spend(run_id=first.run_id, model="gpt-4o-mini", cost_usd=0.0123, day=utcnow().date().isoformat())
        )
    with transaction(app.db) as s:
        poison = jobs.enqueue(s, kind="research.research", key="r1", max_attempts=1)
    jobs.claim(app.db, poison.id, worker="w", lease=timedelta(seconds=1), now=utcnow())
    jobs.fail(
        app.db, poison.id, worker="w", attempt=1, error="the site refused us", retry_at=None, now=utcnow()
    )

    d = collect(sources(app), tomorrow(), utcnow())
    body = render(d, None)
    assert body.startswith(f"Daily digest for {tomorrow():%a %d %b %Y}")
    assert "Done yesterday: 3 action(s), model cost $0.0123" in body
    assert "Balance -$12.50. ($0.0123)" in body
    assert "bookkeeping.record_expense: Recorded expense #1: $12.50 coffee with Dana" in body
    assert "tasks.add_task: order ink ($0.00) — undone" in body
    assert "Waiting for your decision: 1 (cards below)" in body
    assert "Spend: yesterday $0.0123 of $2.00" in body
    assert "Open tasks: 1\n  • #1 call the accountant" in body
    assert "Upcoming: no calendar connected." in body
    assert "Needs attention: 1" in body and "the site refused us" in body
    assert body.endswith("This digest cost $0.00 (no model call).")

    # Through the job, the pending approval follows the digest as a card with its buttons.
    out = RecordingOutbound()
    app.notifier.register("test", out)
    run_digest_job(app, tomorrow())
    cards = [r for _, r in out.sent if r.card is not None]
    assert len(cards) == 1 and [b.action for b in cards[0].card.buttons] == ["approve", "reject"]
    assert out.edits_of(1)[-1].startswith("Daily digest for")


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI(script=lambda body: text("One expense was recorded; an income waits for you."))
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_model_is_called_only_when_there_is_something_to_summarise(app_factory, fake_openai):
    app = app_factory(settings={"openai_api_key": "sk-test", "openai_base_url": fake_openai.base_url})
    out = RecordingOutbound()
    app.notifier.register("test", out)

    # Given a quiet day, the digest goes out without a model call and says it cost nothing.
    job = run_digest_job(app, tomorrow())
    assert fake_openai.requests == []
    assert job.result["text"].endswith("This digest cost $0.00 (no model call).")

    # Given an action, one summary call is made, within the budget, and the digest shows its cost.
    with transaction(app.db) as s:
        eventlog.append(
            s,
            run_id="run_x",
            conversation="test:C1",
            kind="effect",
            action="bookkeeping.record_expense",
            payload={"text": "Recorded expense #1: $9.00 pens."},
            actor="test:U1",
            idempotency_key="k-ev",
        )
    job = run_digest_job(app, tomorrow())
    [call] = fake_openai.requests
    assert call["messages"][0]["role"] == "system" and "daily digest" in call["messages"][0]["content"]
    assert (
        "Done: bookkeeping.record_expense: Recorded expense #1: $9.00 pens." in call["messages"][1]["content"]
    )
    body = job.result["text"]
    assert "One expense was recorded; an income waits for you." in body
    assert body.endswith("This digest cost $0.000036 (1 model call).")
    with Session(app.db) as s:
        [spend] = s.exec(select(Spend).where(Spend.agent == "digest")).all()
    assert spend.run_id == job.id and spend.cost_usd == pytest.approx(0.000036)


def test_two_processes_running_the_scheduler_send_one_digest(app_factory):
    settings = {"coo_digest_to": "test:C9", "coo_digest_time": "00:00", "coo_job_tick_s": 0.05}
    apps = [app_factory(settings=settings), app_factory(settings=settings)]
    outs = [RecordingOutbound(), RecordingOutbound()]
    for app, out in zip(apps, outs, strict=True):
        app.notifier.register("test", out)

    # Given two processes that start at the same moment, each with its scheduler...
    barrier = threading.Barrier(2)
    started: list[Workers] = []

    def start(app) -> None:
        barrier.wait()
        started.append(app.start_workers())

    threads = [threading.Thread(target=start, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # ...one digest job is claimed and done, and both keep ticking without sending another.
    wait_for(lambda: any(j.status == "done" for j in digest_jobs(apps[0])), what="digest done")
    ticks = [w.ticks for w in started]
    wait_for(lambda: all(w.ticks >= n + 5 for w, n in zip(started, ticks, strict=True)), what="more ticks")
    assert len(digest_jobs(apps[0])) == 1
    with Session(apps[0].db) as s:
        assert s.exec(select(func.count()).select_from(DigestSlot)).one() == 1
    finals = [
        r
        for out in outs
        for _, r in [*((None, r) for _, r in out.sent), *out.updated]
        if r.text.startswith("Daily digest")
    ]
    assert len(finals) == 1


def test_racing_schedulers_claim_once(app_factory):
    apps = [app_factory(), app_factory()]
    past = datetime(2026, 11, 24, 9, 0, tzinfo=PARIS)
    store.save(apps[0].db, "daily-digest", daily_digest(time(8, 0)), by="coo", now=past - timedelta(days=2))
    schedulers = [
        PlaybookScheduler(a.db, a.jobs, tz=PARIS, destination="test:C1", clock=lambda: past)
        for a in apps
        for _ in range(3)
    ]
    barrier = threading.Barrier(len(schedulers))
    won: list[str] = []

    def race(s: PlaybookScheduler) -> None:
        barrier.wait()
        for _ in range(5):
            won.extend(s.tick())

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(jobs_of(apps[0], PLAYBOOK_KIND)) == 1


def jobs_of(app, kind: str) -> list[Job]:
    with Session(app.db) as s:
        return list(s.exec(select(Job).where(Job.kind == kind)).all())


def digest_jobs(app) -> list[Job]:
    with Session(app.db) as s:
        return list(s.exec(select(Job).where(Job.kind == DIGEST_KIND)).all())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_downtime_across_the_digest_time_sends_one_catch_up(app_factory):
    now = [datetime(2026, 11, 23, 7, 0, tzinfo=PARIS)]  # Monday 07:00, before the 08:00 digest
    settings = {"coo_timezone": "Europe/Paris", "coo_digest_time": "08:00", "coo_digest_to": "test:C1"}
    app = app_factory(settings=settings)
    sunday = datetime(2026, 11, 22, 8, 0, tzinfo=PARIS)
    store.save(app.db, "daily-digest", daily_digest(time(8, 0)), by="coo", now=sunday - timedelta(days=7))
    with transaction(app.db) as s:  # Sunday's went out
        s.add(PlaybookRun(playbook="daily-digest", slot=slot_key(sunday), version=1, conversation="test:C1", status="done"))
        s.add(DigestSlot(day="2026-11-22", destination="test:C1", job_id="job_sunday"))

    def scheduler(a) -> PlaybookScheduler:
        return PlaybookScheduler(a.db, a.jobs, tz=PARIS, destination="test:C1", clock=lambda: now[0])

    assert scheduler(app).tick() == []  # nothing due yet; then the engine goes down
    app.close()

    # It comes back on Thursday 09:30: one catch-up digest (Thursday's), not one per missed day, and
    # no card of missed runs (the digest's playbook is `on_missed: latest`).
    now[0] = datetime(2026, 11, 26, 9, 30, tzinfo=PARIS)
    app2 = app_factory(settings=settings)
    out = RecordingOutbound()
    app2.notifier.register("test", out)
    workers = Workers(app2.jobs, threads=2, tick_s=0.05, periodic=[scheduler(app2).tick]).start()
    try:
        wait_for(lambda: any(j.status == "done" for j in digest_jobs(app2)), what="catch-up digest")
        for later in (
            datetime(2026, 11, 26, 9, 31, tzinfo=PARIS),
            datetime(2026, 11, 26, 23, 59, tzinfo=PARIS),
        ):
            now[0] = later
            n = workers.ticks
            wait_for(lambda n=n: workers.ticks >= n + 2, what="ticks")
        [job] = digest_jobs(app2)
        assert job.args == {"day": "2026-11-26"}
        assert out.edits_of(1)[-1].startswith("Daily digest for Thu 26 Nov 2026")
        # Friday at 08:00 the next one goes out as usual.
        now[0] = datetime(2026, 11, 27, 8, 0, tzinfo=PARIS)
        wait_for(lambda: len(digest_jobs(app2)) == 2, what="Friday's digest")
    finally:
        workers.stop()
    with Session(app2.db) as s:
        days = sorted(r.day for r in s.exec(select(DigestSlot)).all())
        runs = s.exec(select(PlaybookRun).where(PlaybookRun.playbook == "daily-digest")).all()
    assert days == ["2026-11-22", "2026-11-26", "2026-11-27"]
    assert sorted(r.status for r in runs) == ["done", "done", "done"]  # none left `missed` for a card
    assert not any("missed" in t for t in out.texts())


def test_one_path_sends_the_digest_and_its_time_is_the_playbooks_cron(app_factory):
    app = app_factory(settings={"coo_digest_to": "test:C1", "coo_digest_time": "07:45"})
    pbs = service(app)
    row = store.current(app.db, "daily-digest")
    assert row is not None and 'cron: "45 7 * * *"' in row.text
    # A new COO_DIGEST_TIME moves it (coo wrote the version); a version the operator saved stays theirs.
    app2 = app_factory(settings={"coo_digest_to": "test:C1", "coo_digest_time": "06:30"})
    service(app2)
    assert 'cron: "30 6 * * *"' in (store.current(app.db, "daily-digest") or row).text
    mine = daily_digest(time(5, 0))
    store.save(app.db, "daily-digest", mine, by="console:op")
    service(app_factory(settings={"coo_digest_to": "test:C1", "coo_digest_time": "06:30"}))
    assert (store.current(app.db, "daily-digest") or row).text == mine
    # The digest step run twice for one day (a step run again, or two slots on one day after the time
    # moved) queues one digest job, to COO_DIGEST_TO.
    send = pbs.runner.queries["digest.send"]
    slot = slot_key(datetime(2026, 11, 24, 8, 0, tzinfo=PARIS))
    for run_id in ("pbr_1", "pbr_2"):
        ctx = QueryContext(app.db, utcnow(), PARIS, {"slot": slot, "run_id": run_id, "conversation": "test:C1"})
        said = send(ctx, {})
    assert said == "The digest for 2026-11-24 to test:C1 was already sent."
    [job] = digest_jobs(app)
    assert job.args == {"day": "2026-11-24"} and job.conversation == "test:C1"


def test_playbooks_report_to_coo_playbooks_to_and_the_digest_still_to_coo_digest_to(app_factory):
    app = app_factory(settings={"coo_digest_to": "test:D", "coo_playbooks_to": "test:P"})
    pbs = service(app)
    assert pbs.scheduler.destination == "test:P"
    slot = slot_key(datetime(2026, 11, 24, 8, 0, tzinfo=PARIS))
    ctx = QueryContext(app.db, utcnow(), PARIS, {"slot": slot, "run_id": "pbr_1", "conversation": "test:P"})
    pbs.runner.queries["digest.send"](ctx, {})
    assert [j.conversation for j in digest_jobs(app)] == ["test:D"]
    # Without COO_PLAYBOOKS_TO they report to COO_DIGEST_TO; without COO_DIGEST_TO no digest is scheduled.
    assert service(app_factory(settings={"coo_digest_to": "test:D"})).scheduler.destination == "test:D"
    only = app_factory(settings={"coo_playbooks_to": "test:P"})
    said = service(only).runner.queries["digest.send"](ctx, {})
    assert said == "The digest has nowhere to go: set COO_DIGEST_TO." and len(digest_jobs(only)) == 1


def test_coo_digest_now_prints_one_at_once(tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_", "REDIS_"))
    }
    env.pop("DATABASE_URL", None)
    env["COO_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "digest", "--now"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Daily digest for" in done.stdout and "This digest cost $0.00 (no model call)." in done.stdout
