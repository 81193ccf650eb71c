"""Fire scheduled playbooks: each slot exactly once across processes, and missed slots put to the operator.

A tick looks at every stored playbook with a cron trigger that is not paused. The latest slot that has
passed, if it passed less than ``grace`` ago, is claimed by inserting its ``(playbook, slot)`` run row
in the same transaction as the job that runs it: of any number of processes ticking at once, one
insert wins and the others fail on the key. Older slots that nobody claimed (coo was down) are
claimed as ``missed`` rows, and the process that claimed them says so on one card per playbook
("3 runs of overdue-invoices were missed: run them now / skip"): never run silently, never dropped.
A playbook with ``on_missed: latest`` (the daily digest) runs its latest slot at once instead, late or
not, and passes over the older ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from graph.jobs.queue import JobQueue
from graph.playbooks.cron import Cron
from graph.playbooks.queries import QueryContext, invoices_open
from graph.playbooks.schema import parse
from memory import playbooks as store
from memory.db import transaction
from memory.playbook_tables import PlaybookRun
from memory.tables import utcnow
from memory.workspace import Customer

log = logging.getLogger(__name__)

PLAYBOOK_KIND = "playbook.run"
MAX_MISSED = 50  # a card lists at most this many; older ones are still claimed (and counted)


def slot_key(slot: datetime) -> str:
    """Return how a slot is stored: its UTC time, ISO, to the minute (sortable as text)."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def slot_time(key: str) -> datetime:
    """Return the time a stored slot key stands for."""
    return datetime.strptime(key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Missed:
    """Slots of one playbook that passed while nobody ran them, for the operator's one card."""

    playbook: str
    slots: list[str]

    @property
    def text(self) -> str:
        """Return the card's words."""
        n = len(self.slots)
        runs = "1 run" if n == 1 else f"{n} runs"
        return (
            f"{runs} of {self.playbook} {'was' if n == 1 else 'were'} missed while coo was down "
            f"({', '.join(self.slots[:5])}{' …' if n > 5 else ''}). "
            f"Reply `playbook backfill {self.playbook} run` to run {'it' if n == 1 else 'them'} now, "
            f"or `playbook backfill {self.playbook} skip`."
        )


class PlaybookScheduler:
    """Claims due slots of scheduled playbooks and queues their runs; finds missed slots.

    Args:
        db: The workspace database.
        queue: The job queue (a claimed slot's run is a ``playbook.run`` job, queued in the claim's transaction).
        tz: The operator's zone (``COO_TIMEZONE``), in which cron expressions are read.
        destination: The conversation runs report to.
        grace: How late a slot may still fire; older unclaimed slots are missed.
        clock: The time now.
        on_missed: Shown the card of missed slots (by the process that found them, once).
    """

    def __init__(
        self,
        db: Engine,
        queue: JobQueue,
        *,
        tz: tzinfo,
        destination: str,
        grace: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = utcnow,
        on_missed: Callable[[Missed], None] | None = None,
    ) -> None:
        self.db = db
        self.queue = queue
        self.tz = tz
        self.destination = destination
        self.grace = grace
        self.clock = clock
        self.on_missed = on_missed

    def tick(self) -> list[str]:
        """Claim what is due now; return the ids of the runs this call claimed."""
        now = self.clock()
        claimed: list[str] = []
        for name in store.names(self.db):
            try:
                claimed += self._tick_one(name, now)
            except Exception:  # noqa: BLE001 - one broken playbook never stops the others' schedule
                log.exception("playbook %s: scheduling failed", name)
        return claimed

    def _tick_one(self, name: str, now: datetime) -> list[str]:
        row = store.current(self.db, name)
        switch = store.switch(self.db, name)
        if row is None or switch.paused:
            return []
        pb = parse(row.text)
        if pb.trigger.event is not None:
            return self._events(name, row.version, pb.trigger.event, switch.since, now)
        if pb.trigger.cron is None:
            return []
        last = store.last_slot(self.db, name)
        since = max(switch.since, slot_time(last)) if last else switch.since
        if last is None and pb.on_missed == "latest":
            # Never fired: the latest slot of the day before it was stored is due at once (the digest
            # whose time passed before coo first started goes out then, as it always did).
            since -= timedelta(days=1)
        slots = list(Cron.parse(pb.trigger.cron).slots(since, now, self.tz))
        if not slots:
            return []
        latest = slots[-1]
        fresh = now - latest <= self.grace
        if pb.on_missed == "latest":
            # Only the latest slot runs, late or not; the older ones are passed over without a card.
            run_id = self.claim(name, row.version, slot_key(latest))
            return [run_id] if run_id else []
        missed = [slot_key(s) for s in (slots[:-1] if fresh else slots)]
        got = [s for s in missed if self._claim_missed(name, row.version, s)]
        if got and self.on_missed is not None:
            self.on_missed(Missed(name, got[:MAX_MISSED]))
        if not fresh:
            return []
        run_id = self.claim(name, row.version, slot_key(latest))
        return [run_id] if run_id else []

    def _events(self, name: str, version: int, event: str, since: datetime, now: datetime) -> list[str]:
        """Claim one run per event that happened since the playbook was stored or resumed (polled each tick).

        ``invoice.overdue``: an open invoice whose due date passed on or after that day (its slot is
        ``event:invoice.overdue:<number>``); ``customer.new``: a customer added since (``event:customer.new:<id>``).
        """
        ctx = QueryContext(self.db, now, self.tz, {})
        found: list[tuple[str, dict[str, Any]]] = []
        if event == "invoice.overdue":
            first = since.astimezone(self.tz).date()
            for inv in invoices_open(ctx, {}):
                if inv["days_overdue"] > 0 and date.fromisoformat(inv["due_on"]) >= first:
                    found.append((f"event:invoice.overdue:{inv['number']}", {"invoice": inv}))
        elif event == "customer.new":
            with Session(self.db) as s:
                rows = s.exec(select(Customer).where(col(Customer.created_at) > since)).all()
            found = [
                (f"event:customer.new:{c.id}", {"customer": {"id": c.id, "name": c.name, "email": c.email, "company": c.company}})
                for c in rows
            ]
        claimed = [self.claim(name, version, slot, trigger) for slot, trigger in found if not store.has_slot(self.db, name, slot)]
        return [c for c in claimed if c]

    def claim(self, name: str, version: int, slot: str, trigger: dict[str, Any] | None = None) -> str | None:
        """Claim one slot and queue its run in one transaction; None when another process has it."""
        try:
            with transaction(self.db) as s:
                run = PlaybookRun(playbook=name, slot=slot, version=version, conversation=self.destination, status="queued")
                s.add(run)
                s.flush()  # the unique (playbook, slot) decides here, before the job is queued
                self.queue.enqueue(
                    s,
                    PLAYBOOK_KIND,
                    key=f"playbook:{name}:{slot}",
                    args={"run_id": run.id, "trigger": trigger or {}},
                    conversation=self.destination,
                )
                run_id = run.id
        except IntegrityError:
            return None
        log.info("playbook %s slot %s claimed (run %s)", name, slot, run_id)
        return run_id

    def _claim_missed(self, name: str, version: int, slot: str) -> bool:
        return store.claim(self.db, name, slot, version=version, conversation=self.destination, status="missed") is not None

    def backfill(self, name: str, run: bool) -> list[str]:
        """Run a playbook's missed slots now (queued as jobs), or skip them; return the slots taken."""
        taken = store.take_missed(self.db, name, "queued" if run else "skipped")
        if run:
            with transaction(self.db) as s:
                for r in taken:
                    self.queue.enqueue(
                        s, PLAYBOOK_KIND, key=f"playbook:{name}:{r.slot}", args={"run_id": r.id}, conversation=r.conversation
                    )
        return [r.slot for r in taken]

    def next_run(self, name: str) -> datetime | None:
        """Return when a playbook next fires (None: paused, not scheduled, or unknown)."""
        row = store.current(self.db, name)
        if row is None or store.switch(self.db, name).paused:
            return None
        pb = parse(row.text)
        return Cron.parse(pb.trigger.cron).next_after(self.clock(), self.tz) if pb.trigger.cron else None
