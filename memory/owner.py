"""Who holds a claim, and whether it is still alive: claims that survive a dead process, never stolen from a live one.

Each process has one `Owner`: an id (host, pid and a random part) written on every claim it makes
(inbox items, outbox items), with a lease. A thread renews the leases of everything the owner holds
while the process lives, so a live process's claims never expire however long its work takes. A
process that dies stops renewing; its claims expire and any live process's sweep takes them over.

On the owner's own host a dead process is known at once (its pid is gone, or is this process under
another id), so a restart on one machine takes over without waiting for the lease. Elsewhere the
lease decides: ``takeover_s`` (``COO_CLAIM_LEASE_S``) bounds the time from a kill to the takeover as
the lease (3/4 of it) plus one sweep interval (1/4 of it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from memory import inbox, outbox
from memory.db import transaction
from memory.tables import InboxItem, OutboxItem, utcnow

log = logging.getLogger(__name__)

# COO_TEST_OWNER_HOST (crash tests only) names another host, so that only the lease tells this process dead.
HOST = (os.environ.get("COO_TEST_OWNER_HOST") or socket.gethostname())[:40]
_MINE: set[str] = set()  # the ids of this process's owners


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def dead_locally(owner_id: str, me: str) -> bool:
    """Tell whether an owner id names a process on this host that is known to be dead."""
    if not owner_id or owner_id == me:
        return False
    host, _, rest = owner_id.rpartition("/")
    pid_s = rest.split(":", 1)[0]
    if host != HOST or not pid_s.isdigit():
        return False  # another host's process: only its lease tells
    pid = int(pid_s)
    if pid == os.getpid():  # my pid: one of this process's owners, or a previous life (a restarted container)
        return owner_id not in _MINE
    return not _pid_alive(pid)


class Owner:
    """This process's identity and the thread that keeps its claims alive.

    Args:
        engine: The database.
        takeover_s: The bound on the time from a process's death to the takeover of its claims.
    """

    def __init__(self, engine: Engine, takeover_s: float = 30.0) -> None:
        self.engine = engine
        self.id = f"{HOST}/{os.getpid()}:{uuid.uuid4().hex[:8]}"
        _MINE.add(self.id)
        self.takeover_s = takeover_s
        self.lease = timedelta(seconds=takeover_s * 0.75)
        self.sweep_s = takeover_s / 4
        self.renew_s = takeover_s / 8
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def until(self, now: datetime | None = None) -> datetime:
        """Return when a claim made now expires unless renewed."""
        return (now or utcnow()) + self.lease

    def renew(self, now: datetime | None = None) -> int:
        """Extend the lease of every claim this owner holds; return how many."""
        until = self.until(now)
        with transaction(self.engine) as s:
            n = s.execute(
                update(InboxItem)
                .where(col(InboxItem.claimed_by) == self.id, col(InboxItem.status) == "processing")
                .values(lease_until=until)
            ).rowcount  # type: ignore[attr-defined]
            n += s.execute(
                update(OutboxItem)
                .where(col(OutboxItem.claimed_by) == self.id, col(OutboxItem.status) == "pending")
                .values(lease_until=until)
            ).rowcount  # type: ignore[attr-defined]
        return int(n)

    def start(self) -> Owner:
        """Renew this owner's leases in a thread until `stop` (the event loop may be busy: a thread is not)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="coo-owner", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.renew_s):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a database hiccup: the next tick tries again
                log.warning("renewing the claims of %s failed", self.id, exc_info=True)

    def stop(self) -> None:
        """Stop renewing: the owner is dead from now on (its claims are taken over at once on this host)."""
        self._stop.set()
        _MINE.discard(self.id)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def dead_holders(self) -> list[str]:
        """Return the owners holding claims (inbox or outbox) known dead here (see `dead_locally`)."""
        return [
            h for h in {*inbox.holders(self.engine), *outbox.holders(self.engine)} if dead_locally(h, self.id)
        ]

    def claim(self, delivery_id: str, dead: Sequence[str] = ()) -> bool:
        """Claim an inbox delivery for this owner (see `memory.inbox.claim`)."""
        return inbox.claim(self.engine, delivery_id, self.lease, owner=self.id, dead=dead)

    def claim_next(self, channels: Sequence[str], limit: int, skip: Collection[str] = ()) -> list[tuple[str, str]]:
        """Claim up to ``limit`` of the oldest free deliveries for this owner (see `memory.inbox.claim_next`)."""
        return inbox.claim_next(self.engine, channels, limit, self.lease, owner=self.id, skip=skip)

    def claimable(self, channel: str, dead: Sequence[str] = (), starting: bool = False) -> list[str]:
        """Return a channel's deliveries nobody alive works on.

        Args:
            channel: The inbox channel.
            dead: Owners known dead.
            starting: At start-up every delivery never claimed is taken; later only those older than
                the lease (younger ones are on their way to a claim in the process that recorded them).
        """
        since = None if starting else utcnow() - self.lease
        return inbox.claimable(self.engine, channel, dead, received_before=since)
