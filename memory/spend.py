"""The spend records, read for /budget, /status and the digest: totals by agent, model and rung; a daily series.

Only the budget ledger (graph/budget.py) writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import func
from sqlalchemy.engine import Engine as SqlEngine
from sqlmodel import Session, col, select

from memory.tables import Run, Spend

Column = Literal["agent", "model", "rung"]


@dataclass(frozen=True)
class Line:
    """One group's spend: its name, dollars, calls and tokens."""

    name: str
    usd: float
    calls: int
    tokens: int


def month_start(day: date) -> date:
    """Return the first day of the day's month."""
    return day.replace(day=1)


def spend_by(db: SqlEngine, column: Column, first: date, last: date) -> list[Line]:
    """Return spend grouped by agent, model or rung between two days (inclusive), biggest first."""
    key = getattr(Spend, column)
    usd = func.coalesce(func.sum(Spend.cost_usd), 0.0)
    q = (
        select(key, usd, func.count(), func.coalesce(func.sum(Spend.input_tokens + Spend.output_tokens), 0))
        .where(col(Spend.day) >= first.isoformat(), col(Spend.day) <= last.isoformat())
        .group_by(key)
        .order_by(usd.desc(), key)
    )
    with Session(db) as s:
        rows = s.exec(q).all()
    return [Line(str(name), float(u), int(n), int(t)) for name, u, n, t in rows]


def total(db: SqlEngine, first: date, last: date) -> float:
    """Return the dollars spent between two days (inclusive)."""
    return sum(line.usd for line in spend_by(db, "agent", first, last))


def daily_series(db: SqlEngine, last: date, days: int = 30) -> list[tuple[date, float]]:
    """Return (day, dollars) for the ``days`` days up to ``last``, zero-filled."""
    first = last - timedelta(days=days - 1)
    q = (
        select(Spend.day, func.sum(Spend.cost_usd))
        .where(col(Spend.day) >= first.isoformat(), col(Spend.day) <= last.isoformat())
        .group_by(Spend.day)
    )
    with Session(db) as s:
        spent = {d: float(u or 0.0) for d, u in s.exec(q).all()}
    return [
        (first + timedelta(days=i), spent.get((first + timedelta(days=i)).isoformat(), 0.0))
        for i in range(days)
    ]


@dataclass(frozen=True)
class RunCost:
    """A run with what its model calls cost and the rungs that served them."""

    run_id: str
    input: str
    status: str
    usd: float
    rungs: list[str]


def recent_run_costs(db: SqlEngine, limit: int = 5) -> list[RunCost]:
    """Return the latest runs, newest first, with their cost and the rungs that served their calls."""
    with Session(db) as s:
        runs = s.exec(select(Run).order_by(col(Run.created_at).desc()).limit(limit)).all()
        ids = [r.id for r in runs]
        spends = s.exec(select(Spend).where(col(Spend.run_id).in_(ids)).order_by(col(Spend.id))).all()
    rungs: dict[str, list[str]] = {}
    for sp in spends:
        rungs.setdefault(sp.run_id, []).append(sp.rung or sp.model)
    return [RunCost(r.id, r.input, r.status, r.cost_usd, rungs.get(r.id, [])) for r in runs]
