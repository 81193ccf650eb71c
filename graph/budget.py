"""The budget ledger: hard daily and monthly caps, global and per agent, enforced by reservations in SQL.

Before a paid call the caller reserves the call's estimate; afterwards it settles the actual cost (or
releases the reservation when the call failed). A reservation is one transaction of conditional
UPDATEs, one per counter it touches (the whole spend and the agent's, for the day and the month):
``reserved += estimate WHERE spent + reserved + estimate <= cap``. The database serialises them
(SQLite's single writer; PostgreSQL's row locks, taken in a fixed order), so concurrent runs in any
number of processes cannot together pass a cap. A cap can only be overshot by what a call costs beyond
its own estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlmodel import Session, col, select

from graph.planner import Usage
from memory.cost_tables import NANOS_PER_USD, BudgetCap, BudgetCounter, BudgetReservation
from memory.db import transaction
from memory.dialect import dialect_insert
from memory.tables import Spend, utcnow

Period = Literal["daily", "monthly"]
ALL = "all"
_COUNTERS = BudgetCounter.__table__  # type: ignore[attr-defined]


def nanos(usd: float) -> int:
    """Return USD as integer nano-dollars."""
    return round(usd * NANOS_PER_USD)


def scope_of(agent: str | None) -> str:
    """Return the counter scope of an agent (None: the whole spend)."""
    return ALL if agent is None else f"agent:{agent}"


@dataclass(frozen=True)
class Reservation:
    """An estimate held for one call."""

    id: str
    run_id: str
    agent: str
    model: str
    nanos: int
    day: str


@dataclass(frozen=True)
class Headroom:
    """How close a scope is to its tightest cap."""

    pressure: float  # (spent + reserved) / cap of the tightest cap; 0 when uncapped
    remaining_usd: float | None  # what is left under the tightest cap; None when uncapped


class BudgetLedger:
    """Caps, counters and reservations."""

    def __init__(
        self,
        db: SqlEngine,
        *,
        daily_usd: float | None = None,
        monthly_usd: float | None = None,
        tz: tzinfo = UTC,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.defaults: dict[Period, float | None] = {"daily": daily_usd, "monthly": monthly_usd}
        self.tz = tz
        self.clock = clock

    # ---- caps -----------------------------------------------------------------------------------

    def today(self) -> date:
        """Return today's date in the ledger's time zone."""
        return self.clock().astimezone(self.tz).date()

    def cap(self, period: Period, agent: str | None = None) -> float | None:
        """Return the cap in force: one set from chat, else (for the whole spend) the settings' default."""
        return self._caps(agent)[(scope_of(agent), period)]

    def _caps(self, agent: str | None) -> dict[tuple[str, Period], float | None]:
        """Return the caps over an agent's calls (the whole spend's, and the agent's own), in one query."""
        scopes = {ALL, scope_of(agent)}
        caps: dict[tuple[str, Period], float | None] = {
            (sc, p): (self.defaults[p] if sc == ALL else None) for sc in scopes for p in ("daily", "monthly")
        }
        with Session(self.db) as s:
            for row in s.exec(select(BudgetCap).where(col(BudgetCap.scope).in_(scopes))).all():
                caps[(row.scope, row.period)] = row.usd  # type: ignore[index]
        return caps

    def agent_caps(self) -> dict[str, dict[str, float | None]]:
        """Return the caps set for single agents: agent → period → USD."""
        with Session(self.db) as s:
            rows = s.exec(select(BudgetCap).where(col(BudgetCap.scope).startswith("agent:"))).all()
        out: dict[str, dict[str, float | None]] = {}
        for r in rows:
            out.setdefault(r.scope.removeprefix("agent:"), {})[r.period] = r.usd
        return out

    def set_cap(self, period: Period, usd: float | None, *, by: str, agent: str | None = None) -> None:
        """Set a cap (None: no cap), overriding the settings' default. Who may do this is the caller's call."""
        if usd is not None and not usd >= 0:
            raise ValueError("a budget must be a non-negative amount")
        with transaction(self.db) as s:
            row = s.get(BudgetCap, (scope_of(agent), period))
            if row is None:
                row = BudgetCap(scope=scope_of(agent), period=period, usd=usd, set_by=by)
            else:
                row.usd, row.set_by, row.set_at = usd, by, utcnow()
            s.add(row)

    # ---- counters -------------------------------------------------------------------------------

    def _keys(self, agent: str, day: str) -> list[tuple[str, str, int | None]]:
        """Return the counters a call touches, in lock order, each with its cap in nanos."""
        caps = self._caps(agent)
        keys = []
        for (scope, period), cap in caps.items():
            key = f"d:{day}" if period == "daily" else f"m:{day[:7]}"
            keys.append((scope, key, None if cap is None else nanos(cap)))
        return sorted(keys)

    def _ensure(self, s: Session, keys: Iterable[tuple[str, str, int | None]]) -> None:
        rows = [{"scope": sc, "period": p, "spent_nanos": 0, "reserved_nanos": 0} for sc, p, _ in keys]
        s.execute(dialect_insert(s, _COUNTERS).values(rows).on_conflict_do_nothing())

    def reserve(self, *, run_id: str, agent: str, model: str, usd: float) -> Reservation | None:
        """Hold ``usd`` against every cap the call falls under; None (and nothing held) if any would pass."""
        day = self.today().isoformat()
        amount = nanos(usd)
        keys = self._keys(agent, day)  # caps read before the write transaction starts
        with transaction(self.db) as s:
            self._ensure(s, keys)
            for scope, period, cap in keys:
                q = update(_COUNTERS).where(_COUNTERS.c.scope == scope, _COUNTERS.c.period == period)
                if cap is not None:
                    q = q.where(_COUNTERS.c.spent_nanos + _COUNTERS.c.reserved_nanos + amount <= cap)
                if s.execute(q.values(reserved_nanos=_COUNTERS.c.reserved_nanos + amount)).rowcount != 1:  # type: ignore[attr-defined]
                    s.rollback()
                    return None
            row = BudgetReservation(run_id=run_id, agent=agent, model=model, nanos=amount, day=day)
            s.add(row)
        return Reservation(row.id, run_id, agent, model, amount, day)

    def _move(self, s: Session, agent: str, day: str, spent: int, reserved: int) -> None:
        keys = sorted((sc, p) for sc in (ALL, scope_of(agent)) for p in (f"d:{day}", f"m:{day[:7]}"))
        self._ensure(s, [(sc, p, None) for sc, p in keys])
        for scope, period in keys:
            s.execute(
                update(_COUNTERS)
                .where(_COUNTERS.c.scope == scope, _COUNTERS.c.period == period)
                .values(
                    spent_nanos=_COUNTERS.c.spent_nanos + spent,
                    reserved_nanos=_COUNTERS.c.reserved_nanos - reserved,
                )
            )

    def _drop(self, s: Session, res: Reservation) -> int:
        """Delete a reservation; return what it still held (0 if it was released already)."""
        gone = s.execute(delete(BudgetReservation).where(col(BudgetReservation.id) == res.id)).rowcount  # type: ignore[attr-defined]
        return res.nanos if gone == 1 else 0

    def settle(self, res: Reservation, usage: Usage, rung: str) -> Usage:
        """Replace a reservation by the call's actual cost and record the call; return the usage, recorded."""
        with transaction(self.db) as s:
            held = self._drop(s, res)
            self._move(s, res.agent, res.day, nanos(usage.cost_usd), held)
            s.add(self._spend_row(res.run_id, res.agent, usage, rung, res.day))
        return replace(usage, rung=rung, recorded=True)

    def release(self, res: Reservation) -> None:
        """Give a reservation back (the call failed or was not made)."""
        with transaction(self.db) as s:
            held = self._drop(s, res)
            if held:
                self._move(s, res.agent, res.day, 0, held)

    def record(
        self, *, run_id: str, agent: str, usage: Usage, rung: str, also: Callable[[Session], None] | None = None
    ) -> Usage:
        """Record a call that needed no reservation (a cache hit, the rule-based model).

        ``also`` writes in the same transaction (the driver records the plan on its run with it).
        """
        day = self.today().isoformat()
        with transaction(self.db) as s:
            if usage.cost_usd:
                self._move(s, agent, day, nanos(usage.cost_usd), 0)
            s.add(self._spend_row(run_id, agent, usage, rung, day))
            if also is not None:
                also(s)
        return replace(usage, rung=rung, recorded=True)

    @staticmethod
    def _spend_row(run_id: str, agent: str, u: Usage, rung: str, day: str) -> Spend:
        return Spend(
            run_id=run_id,
            agent=agent,
            model=u.model,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cached_tokens=u.cached_tokens,
            cost_usd=u.cost_usd,
            day=day,
            rung=rung,
        )

    def release_stale(self, older_than: timedelta) -> int:
        """Release reservations left by calls that never settled (a crash); return how many."""
        cutoff = utcnow() - older_than
        with Session(self.db) as s:
            rows = s.exec(select(BudgetReservation).where(BudgetReservation.created_at < cutoff)).all()
        for r in rows:
            self.release(Reservation(r.id, r.run_id, r.agent, r.model, r.nanos, r.day))
        return len(rows)

    # ---- reading --------------------------------------------------------------------------------

    def counters(self, agent: str | None = None) -> dict[str, tuple[float, float]]:
        """Return (spent, reserved) in USD for today (``day``) and this month (``month``)."""
        day = self.today().isoformat()
        out = {"day": (0.0, 0.0), "month": (0.0, 0.0)}
        with Session(self.db) as s:
            for name, period in (("day", f"d:{day}"), ("month", f"m:{day[:7]}")):
                row = s.get(BudgetCounter, (scope_of(agent), period))
                if row is not None:
                    out[name] = (row.spent_nanos / NANOS_PER_USD, row.reserved_nanos / NANOS_PER_USD)
        return out

    def headroom(self, agent: str) -> Headroom:
        """Return how close the tightest cap over an agent's calls is to being reached."""
        pressure, remaining = 0.0, None
        counters = {ALL: self.counters(None), scope_of(agent): self.counters(agent)}
        for (scope, period), cap in self._caps(agent).items():
            if cap is None:
                continue
            used = sum(counters[scope]["day" if period == "daily" else "month"])
            left = max(cap - used, 0.0)
            remaining = left if remaining is None else min(remaining, left)
            pressure = max(pressure, used / cap if cap > 0 else 1.0)
        return Headroom(pressure, remaining)
