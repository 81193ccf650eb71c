"""Scheduled playbooks: each slot exactly once across processes, and missed slots put on one card."""

from __future__ import annotations

import json
import multiprocessing as mp
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis import Redis
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.jobkind import JobKind, JobResult, NullReporter
from graph.jobs.queue import JobQueue
from graph.playbooks.schedule import PLAYBOOK_KIND, Missed, PlaybookScheduler, slot_key
from graph.playbooks.shipped import SHIPPED
from memory import playbooks as store
from memory.db import make_engine
from memory.job_tables import Job
from memory.playbook_tables import PlaybookRun
from tests.services import fresh_postgres_database, redis_url

START = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # a Sunday: four weeks and a month's 1st ahead
HOURLY = """
name: hourly
trigger: {cron: "0 * * * *"}
steps:
  - id: hi
    message: hi
"""
TZ = ZoneInfo("Europe/Paris")


def _queue(db: Engine, redis: tuple[str, str] | None = None) -> JobQueue:
    kind = JobKind(name=PLAYBOOK_KIND, run=lambda ctx: JobResult(text=""))
    if redis is None:
        return JobQueue(db, StubBroker(), [kind], NullReporter(), worker="test", shared_broker=False)
    broker = RedisBroker(url=redis[0], namespace=redis[1])  # what `coo worker` uses with REDIS_URL
    return JobQueue(db, broker, [kind], NullReporter(), worker="test", shared_broker=True)


def _store(db: Engine) -> None:
    for name, text in {**SHIPPED, "hourly": HOURLY}.items():
        store.ensure(db, name, text, by="test", now=START)


def _worker(url: str, redis: tuple[str, str], hours: int, barrier: Any, out: Any) -> None:
    db = make_engine(url)
    now = [START]
    sched = PlaybookScheduler(db, _queue(db, redis), tz=TZ, destination="console:t", clock=lambda: now[0])
    mine: list[str] = []
    for h in range(1, hours + 1):
        now[0] = START + timedelta(hours=h)
        barrier.wait(timeout=60)  # both processes tick the same moment: a real race for each slot
        mine += sched.tick()
    out.put(mine)
    db.dispose()


def test_two_processes_on_postgres_and_redis_fire_each_slot_exactly_once_over_four_weeks() -> None:
    hours = 24 * 28
    redis = (redis_url(), f"coo-test-{uuid.uuid4().hex[:8]}")
    client = Redis.from_url(redis[0])
    with fresh_postgres_database() as url:
        db = make_engine(url)
        _store(db)
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(url, redis, hours, barrier, out)) for _ in range(2)]
        for p in procs:
            p.start()
        claimed = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        with Session(db) as s:
            runs = s.exec(select(PlaybookRun)).all()
            jobs = s.exec(select(Job).where(Job.kind == PLAYBOOK_KIND)).all()
        db.dispose()
    sent = [json.loads(m)["args"][0] for m in client.hvals(f"{redis[1]}:coo.msgs")]  # messages on Redis
    for key in client.scan_iter(f"{redis[1]}*"):
        client.delete(key)
    assert sorted(sent) == sorted(j.id for j in jobs)  # each slot's job handed to Redis once
    per = Counter(r.playbook for r in runs)
    # The digest (08:00 Paris, `on_missed: latest`): the day before START's at once, then each of 28 days.
    assert per == {"hourly": hours, "overdue-invoices": 4, "month-end": 1, "daily-digest": 29}
    assert {r.status for r in runs} == {"queued"}  # nothing missed: every slot fired on time
    assert len({(r.playbook, r.slot) for r in runs}) == len(runs)
    assert sorted(claimed[0] + claimed[1]) == sorted(r.id for r in runs)  # each claimed by one process
    assert all(claimed)  # both won some races
    assert sorted(j.args["run_id"] for j in jobs) == sorted(r.id for r in runs)  # one job per claimed slot
    mondays = sorted(r.slot for r in runs if r.playbook == "overdue-invoices")
    assert mondays == ["2026-11-30T08:00Z", "2026-12-07T08:00Z", "2026-12-14T08:00Z", "2026-12-21T08:00Z"]


def test_missed_slots_are_put_on_one_card_never_run_silently(tmp_path: Any) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    _store(db)
    store.set_paused(db, "hourly", True, by="test")
    store.set_paused(db, "daily-digest", True, by="test")  # `on_missed: latest`, no card (tests/bot/test_digest.py)
    now = [START + timedelta(days=21, hours=12)]  # down for three weeks: three Mondays and a 1st passed
    cards: list[Missed] = []
    sched = PlaybookScheduler(db, _queue(db), tz=TZ, destination="console:t", clock=lambda: now[0], on_missed=cards.append)
    assert sched.tick() == []
    assert {c.playbook: len(c.slots) for c in cards} == {"overdue-invoices": 3, "month-end": 1}
    [card] = [c for c in cards if c.playbook == "overdue-invoices"]
    assert card.text.startswith("3 runs of overdue-invoices were missed while coo was down")
    assert "`playbook backfill overdue-invoices run`" in card.text
    assert sched.tick() == [] and len(cards) == 2  # said once
    with Session(db) as s:
        assert s.exec(select(Job)).all() == []  # nothing ran on its own
    assert sched.backfill("overdue-invoices", run=True) == [slot_key(START + timedelta(days=d, hours=8)) for d in (1, 8, 15)]
    assert sched.backfill("overdue-invoices", run=True) == []  # a second click runs nothing more
    assert sched.backfill("month-end", run=False) == ["2026-12-01T08:00Z"]
    with Session(db) as s:
        assert len(s.exec(select(Job)).all()) == 3
        statuses = Counter(r.status for r in s.exec(select(PlaybookRun)).all())
    assert statuses == {"queued": 3, "skipped": 1}
    now[0] = START + timedelta(days=22, hours=8, minutes=5)  # the next Monday fires on time again
    assert len(sched.tick()) == 1 and len(cards) == 2


def test_events_fire_once_each_for_overdue_invoices_and_new_customers(tmp_path: Any) -> None:
    from memory.invoices import Invoice  # noqa: PLC0415
    from memory.workspace import Customer  # noqa: PLC0415

    db = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    on_overdue = 'name: chase\ntrigger: {event: invoice.overdue}\nsteps:\n  - id: a\n    message: "{{ trigger.invoice.number }}"\n'
    on_customer = 'name: welcome\ntrigger: {event: customer.new}\nsteps:\n  - id: a\n    message: "{{ trigger.customer.name }}"\n'
    store.save(db, "chase", on_overdue, by="test", now=START)
    store.save(db, "welcome", on_customer, by="test", now=START)
    with Session(db) as s:
        c = Customer(name="Dana", email="dana@example.org")
        s.add(c)
        s.flush()
        for n, due in ((1, START.date() - timedelta(days=3)), (2, START.date() + timedelta(days=2)), (3, START.date() + timedelta(days=30))):
            s.add(Invoice(number=f"INV-2026-{n:04d}", year=2026, seq=n, customer="Dana", customer_id=c.id, amount_cents=100,
                          issued_on=START.date() - timedelta(days=40), due_on=due, idempotency_key=f"k{n}"))
        s.commit()
    now = [START + timedelta(days=5)]
    sched = PlaybookScheduler(db, _queue(db), tz=TZ, destination="console:t", clock=lambda: now[0])
    assert len(sched.tick()) == 2  # INV-2 became overdue after the playbook was stored; Dana is new
    assert sched.tick() == []
    with Session(db) as s:
        triggers = sorted(str(j.args["trigger"]) for j in s.exec(select(Job)).all())
    assert "INV-2026-0002" in triggers[0] + triggers[1] and "Dana" in triggers[0] + triggers[1]
    assert not any("INV-2026-0001" in t or "INV-2026-0003" in t for t in triggers)
