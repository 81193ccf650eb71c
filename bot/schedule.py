"""The digest schedule: one digest per day and destination, however many processes run the scheduler.

Each tick finds the latest scheduled time that has passed (``COO_DIGEST_TIME`` today, or yesterday if
today's has not come yet) and claims that day's digest by inserting a row keyed by (day, destination),
in the same transaction as the digest job. Only one insert can win; the others see the row, or fail
on its key, and do nothing. The first tick runs when the workers start, so a digest whose time passed
while the engine was down goes out then, once (only the latest missed day, not every one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.digest import DIGEST_KIND
from graph.jobs.queue import JobQueue
from memory.db import transaction
from memory.job_tables import DigestSlot
from memory.tables import utcnow

log = logging.getLogger(__name__)


def parse_clock(text: str) -> time:
    """Parse ``HH:MM`` (24-hour).

    Raises:
        ValueError: Not a time of day.
    """
    hours, _, minutes = text.strip().partition(":")
    return time(int(hours), int(minutes or 0))


class DigestScheduler:
    """Claims and enqueues the daily digest, exactly once per day and destination."""

    def __init__(
        self,
        db: Engine,
        queue: JobQueue,
        *,
        at: time,
        tz: tzinfo,
        destination: str,
        name: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.queue = queue
        self.at = at
        self.tz = tz
        self.destination = destination
        self.name = name
        self.clock = clock

    def slot(self, now: datetime) -> date:
        """Return the day of the latest scheduled digest time at or before ``now``."""
        local = now.astimezone(self.tz)
        today_at = datetime.combine(local.date(), self.at, self.tz)
        return local.date() if local >= today_at else local.date() - timedelta(days=1)

    def tick(self) -> str | None:
        """Claim the due digest if nobody has; return the job id when this call claimed it."""
        day = self.slot(self.clock())
        try:
            with transaction(self.db) as s:
                if s.get(DigestSlot, (day.isoformat(), self.destination)) is not None:
                    return None
                job = self.queue.enqueue(
                    s,
                    DIGEST_KIND,
                    key=f"digest:{day.isoformat()}:{self.destination}",
                    args={"day": day.isoformat()},
                    conversation=self.destination,
                )
                s.add(
                    DigestSlot(
                        day=day.isoformat(), destination=self.destination, job_id=job.id, claimed_by=self.name
                    )
                )
        except IntegrityError:
            return None  # another scheduler claimed it in the same moment
        log.info("digest for %s to %s claimed by %s (job %s)", day, self.destination, self.name, job.id)
        return job.id
