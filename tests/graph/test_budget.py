"""The budget ledger on SQLite and PostgreSQL: caps hold under concurrent reservations from many threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from graph.budget import BudgetLedger
from graph.planner import Usage
from memory.cost_tables import BudgetReservation
from memory.db import make_engine, sqlite_url
from memory.tables import Spend


@pytest.fixture
def db(tmp_path, database_url):
    engine = make_engine(database_url or sqlite_url(tmp_path))
    yield engine
    engine.dispose()


def spends(db) -> list[Spend]:
    with Session(db) as s:
        return list(s.exec(select(Spend)).all())


def test_reserve_settle_release(db):
    ledger = BudgetLedger(db, daily_usd=1.00)
    first = ledger.reserve(run_id="r1", agent="planner", model="m", usd=0.60)
    assert first is not None
    # Held money counts against the cap: a second 0.60 does not fit, and holds nothing.
    assert ledger.reserve(run_id="r2", agent="planner", model="m", usd=0.60) is None
    assert ledger.counters()["day"] == (0.0, pytest.approx(0.60))

    # Settling replaces the estimate by the actual cost and records the call with its rung.
    usage = ledger.settle(first, Usage("m", 100, 20, 0.25), "primary")
    assert usage.recorded and usage.rung == "primary"
    assert ledger.counters()["day"] == (pytest.approx(0.25), 0.0)
    assert ledger.counters("planner")["month"] == (pytest.approx(0.25), 0.0)
    [row] = spends(db)
    assert (row.run_id, row.agent, row.model, row.rung, row.cost_usd) == (
        "r1",
        "planner",
        "m",
        "primary",
        0.25,
    )

    second = ledger.reserve(run_id="r2", agent="planner", model="m", usd=0.60)
    assert second is not None
    ledger.release(second)
    ledger.release(second)  # twice is harmless
    assert ledger.counters()["day"] == (pytest.approx(0.25), 0.0)
    assert len(spends(db)) == 1


def test_monthly_and_agent_caps(db):
    ledger = BudgetLedger(db, daily_usd=None, monthly_usd=0.50)
    assert ledger.reserve(run_id="r", agent="a", model="m", usd=0.51) is None
    ledger.set_cap("daily", 0.10, by="console:local", agent="research")
    assert ledger.reserve(run_id="r", agent="research", model="m", usd=0.11) is None
    assert ledger.reserve(run_id="r", agent="planner", model="m", usd=0.11) is not None
    assert ledger.agent_caps() == {"research": {"daily": 0.10}}
    # A cap set from chat overrides the settings' default, and "off" is an explicit no-cap.
    ledger.set_cap("monthly", None, by="console:local")
    assert ledger.cap("monthly") is None
    assert ledger.reserve(run_id="r", agent="planner", model="m", usd=5.0) is not None
    with pytest.raises(ValueError):
        ledger.set_cap("daily", -1, by="console:local")


def test_days_roll_over_in_the_ledgers_time_zone(db):
    now = [datetime(2026, 11, 24, 23, 30, tzinfo=UTC)]
    ledger = BudgetLedger(db, daily_usd=1.0, clock=lambda: now[0])
    res = ledger.reserve(run_id="r", agent="planner", model="m", usd=0.9)
    ledger.settle(res, Usage("m", 1, 1, 0.9), "primary")
    assert ledger.reserve(run_id="r", agent="planner", model="m", usd=0.2) is None
    now[0] += timedelta(hours=1)  # a new day: the daily cap is fresh, the month goes on
    assert ledger.today().isoformat() == "2026-11-25"
    assert ledger.reserve(run_id="r", agent="planner", model="m", usd=0.2) is not None
    assert ledger.counters()["month"][0] == pytest.approx(0.9)


def test_stale_reservations_are_released(db):
    ledger = BudgetLedger(db, daily_usd=1.0)
    assert ledger.reserve(run_id="r", agent="planner", model="m", usd=0.9) is not None
    assert ledger.release_stale(timedelta(minutes=10)) == 0
    assert ledger.release_stale(timedelta(seconds=-1)) == 1  # as if a crash left it long ago
    assert ledger.counters()["day"] == (0.0, 0.0)
    with Session(db) as s:
        assert s.exec(select(BudgetReservation)).all() == []


def test_concurrent_reservations_never_pass_the_cap(db):
    # Given 16 threads, each with its own connection, reserving $0.10 against a $0.55 daily cap at once...
    ledger = BudgetLedger(db, daily_usd=0.55)
    ledger.counters()  # schema warm
    start = threading.Barrier(16)
    got: list[object] = []

    def worker(i: int) -> None:
        start.wait()
        res = ledger.reserve(run_id=f"r{i}", agent="planner", model="m", usd=0.10)
        if res is not None:
            got.append(res)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # ...exactly five fit, and the counter holds exactly their sum.
    assert len(got) == 5
    assert ledger.counters()["day"] == (0.0, pytest.approx(0.50))
