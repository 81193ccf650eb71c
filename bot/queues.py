"""Which queues this process's workers take, who takes which queue, and jobs waiting on a queue nobody takes.

``COO_PLACEMENT`` moves an agent's jobs to its own queue (e.g. ``local``), run by ``coo worker --queues
local`` on the operator's machine. Workers announce their queues in Redis (a beat with an expiry); a
queue with jobs and no live worker is reported in /status and the digest.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, select

from memory.job_tables import Job

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


PRESENCE_TTL_S = 15.0  # a worker that stops beating is gone after this


def _redis(app: App) -> Any:
    import redis

    return redis.Redis.from_url(app.settings.redis_url or "", socket_timeout=3)


def _presence_prefix(app: App) -> str:
    return f"{app.settings.coo_redis_namespace}:coo-workers:"


def all_queues(app: App) -> set[str]:
    """Return the queues of every job kind this App declares."""
    return {actor.queue_name for actor in app.jobs.actors.values()}


def consumed_queues(app: App) -> set[str] | None:
    """Return the queues this process's workers take; None: every queue.

    ``coo worker --queues local`` (COO_WORKER_QUEUES) takes only those. Otherwise, on Redis, a worker
    takes every queue but those COO_PLACEMENT moves agents to (a worker started with ``--queues`` on the
    operator's machine runs them); embedded, the only workers are in this process, so they take all.
    """
    s = app.settings
    if s.coo_worker_queues:
        return set(s.coo_worker_queues)
    if not s.redis_url:
        return None
    placed = set(s.placement().queues())
    return (all_queues(app) - placed) or None


def placement_options(app: App, periodic: list[Any]) -> dict[str, Any]:
    """Return the Workers options for this process: its queues, and the periodic tasks with its beat."""
    queues = consumed_queues(app)
    tasks = list(periodic)
    if app.settings.redis_url:
        name = app.jobs.runner.worker
        taken = sorted(queues if queues is not None else all_queues(app))

        def beat() -> None:  # who is alive, and which queues it takes, for /status and the digest
            try:
                _redis(app).set(_presence_prefix(app) + name, json.dumps(taken), ex=int(PRESENCE_TTL_S))
            except Exception:  # noqa: BLE001 - presence is advisory; a worker keeps working without it
                log.warning("worker presence not recorded", exc_info=True)

        tasks.append(beat)
    return {"periodic": tasks, "queues": queues}


def live_queues(app: App) -> set[str] | None:
    """Return the queues some live worker takes (Redis presence); None when this process runs them all."""
    if not app.settings.redis_url:
        return None
    client = _redis(app)
    out: set[str] = set()
    for key in client.scan_iter(match=_presence_prefix(app) + "*"):
        raw = client.get(key)
        if raw:
            out.update(json.loads(raw))
    return out


def waiting_lines(app: App) -> list[str]:
    """Return, per queue that no live worker takes, how many jobs wait on it (for /status, the digest)."""
    try:
        live = live_queues(app)
    except Exception:  # noqa: BLE001 - Redis down: doctor and the broker say so; nothing to add here
        return []
    if live is None:
        return []
    queue_of = {kind: actor.queue_name for kind, actor in app.jobs.actors.items()}
    with Session(app.db) as s:
        rows = s.exec(select(Job.kind, func.count()).where(Job.status == "queued").group_by(Job.kind)).all()
    waiting: dict[str, int] = {}
    for kind, n in rows:
        queue = queue_of.get(kind, "?")
        if queue not in live:
            waiting[queue] = waiting.get(queue, 0) + int(n)
    return [
        f"{n} job(s) waiting on queue {q!r}: no live worker takes it (start `coo worker --queues {q}`)"
        for q, n in sorted(waiting.items())
    ]
