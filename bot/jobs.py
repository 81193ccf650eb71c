"""Build the job system from settings: the broker, the queue of the agents' job kinds, and in-process workers.

Broker: Redis (``REDIS_URL``, shared by every process; ``coo worker`` runs the workers) or, embedded,
Dramatiq's in-memory StubBroker with workers inside the process, made durable by the job table.
Dramatiq's global broker is never set: actors are declared on the broker built here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from importlib import import_module
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dramatiq.broker import Broker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, TimeLimit

from agents.knowledge.reindex import REINDEX_KIND
from bot.digest import DIGEST_KIND, digest_kind
from bot.messages import Reply
from bot.notify import Notifier
from bot.playbooks import digest_sources, playbook_kind
from bot.playbooks import service as playbooks_service
from bot.queues import placement_options
from bot.queues import waiting_lines as queue_waiting_lines
from bot.settings import Settings
from graph import outcomes as o
from graph.jobs.queue import JobQueue
from graph.jobs.runner import Lease
from graph.jobs.workers import Workers
from graph.placement import placed_kinds
from memory.tables import new_id

if TYPE_CHECKING:
    from bot.app import App
    from bot.messages import Outbound
    from graph.engine import Request

log = logging.getLogger(__name__)


def build_broker(settings: Settings) -> tuple[Broker, bool]:
    """Return the broker and whether every process shares it (Redis) or it lives in this one."""
    middleware = [TimeLimit(interval=100), Retries(max_retries=0)]
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(
            url=settings.redis_url, namespace=settings.coo_redis_namespace, middleware=middleware
        ), True
    return StubBroker(middleware=middleware), False


def worker_name() -> str:
    """Return a name for this process's claims: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def channel_outbound(app: App, channel: str) -> Outbound | None:
    """Return a channel's outbound from its module's ``outbound(app)``, when it has one."""
    if not channel.isidentifier():
        return None
    try:
        module: Any = import_module(f"bot.{channel}")
    except ImportError:
        return None
    make = getattr(module, "outbound", None)
    return make(app) if callable(make) else None


def build_jobs(app: App) -> tuple[Notifier, JobQueue]:
    """Return the notifier and the job queue of an App (no workers are started here)."""
    settings = app.settings
    notifier = Notifier(
        app.db, factory=lambda channel: channel_outbound(app, channel), owner=lambda: app.owner
    )
    broker, shared = build_broker(settings)
    # Every agent's job kinds come from its spec (agents/<name>/); the digest and playbooks are the App's own.
    kinds = [*(kind for spec in app.specs for kind in spec.jobs), digest_kind(digest_sources(app)), playbook_kind(app)]
    queue = JobQueue(
        app.db,
        broker,
        placed_kinds(kinds, settings.placement()),  # COO_PLACEMENT moves an agent's jobs to its queue
        notifier,
        worker=worker_name(),
        shared_broker=shared,
        lease=Lease(settings.coo_job_lease_s),
        stale_s=max(settings.coo_job_lease_s * 2, 10.0),
    )
    return notifier, queue


def waiting_lines(app: App) -> list[str]:
    """Return a line per queue whose jobs wait for a worker that is not running."""
    return queue_waiting_lines(app)


def worker_placement(app: App, periodic: list[Any]) -> dict[str, Any]:
    """Return the queues this process's workers take and their periodic tasks (with the presence beat)."""
    return placement_options(app, periodic)


def start_workers(app: App) -> Workers:
    """Start job workers in this process, with the playbooks' scheduler when a destination is set.

    The destination is ``COO_PLAYBOOKS_TO``, else ``COO_DIGEST_TO``.

    The daily digest is the ``daily-digest`` playbook (its cron is ``COO_DIGEST_TIME``): this scheduler
    is the only one that sends it, so there is one path and one digest a day.
    """
    settings = app.settings
    periodic = []
    if settings.playbooks_destination:
        periodic.append(lambda: ",".join(playbooks_service(app).scheduler.tick()) or None)  # scheduled playbooks
        periodic.append(lambda: ",".join(playbooks_service(app).resume_decided()) or None)  # cards decided one by one
    workers = Workers(
        app.jobs,
        threads=settings.coo_job_threads,
        tick_s=settings.coo_job_tick_s,
        **worker_placement(app, periodic),
    )
    return workers.start()


def start_job(
    app: App, kind: str, *, conversation: str, args: dict[str, Any], text: str, delivery: str | None = None
) -> str:
    """Answer at once with ``text`` (the message the job will edit), then queue the job; return its id.

    The message is posted before the job exists, so the job's first progress edit always finds it.
    ``delivery`` (the platform's delivery id) makes the job id stable: a redelivered request finds its
    job instead of starting a second one.
    """
    if delivery is not None:
        job_id = "job_" + hashlib.sha256(f"{kind}:{delivery}".encode()).hexdigest()[:20]
        existing = app.jobs.get(job_id)
        if existing is not None:
            return existing.id
    else:
        job_id = new_id("job")
    try:
        app.notifier.deliver(conversation, [Reply(text=text, key=f"job:{job_id}")])
    except LookupError as exc:  # nowhere to show progress (a console with no terminal): run it anyway
        log.warning("job %s: %s; its progress is not shown", job_id, exc)
    app.jobs.submit(kind, key=f"{kind}:ask:{job_id}", args=args, conversation=conversation, job_id=job_id)
    return job_id


def request_digest(app: App, conversation: str, delivery: str | None = None) -> str:
    """Build a digest now into a conversation (the ``/digest`` command of any channel); return the job id."""
    from datetime import datetime

    today = datetime.now(ZoneInfo(app.settings.coo_timezone)).date()
    return start_job(
        app,
        DIGEST_KIND,
        conversation=conversation,
        args={"day": today.isoformat()},
        text="Working on the digest…",
        delivery=delivery,
    )


def job_command(text: str) -> str | None:
    """Return ``digest`` or ``reindex`` when a chat line asks for that job (with or without a slash)."""
    word = text.strip().lower().split("@", 1)[0].removeprefix("/")  # Telegram groups: /digest@bot
    return word if word in ("digest", "reindex") else None


def chat_job(app: App, conversation: str, text: str, delivery: str | None = None) -> str | None:
    """Start the job a chat line asks for (see `job_command`), in any channel.

    Returns:
        The job's id, or None when the line is not a job command (it goes to the engine then).
    """
    command = job_command(text)
    if command == "digest":
        return request_digest(app, conversation, delivery)
    if command == "reindex":
        return request_reindex(app, conversation, delivery)
    return None


def request_reindex(app: App, conversation: str, delivery: str | None = None) -> str:
    """Re-index memory off the chat path (``reindex`` in any channel); return the job id."""
    return start_job(
        app, REINDEX_KIND, conversation=conversation, args={}, text="Re-indexing memory…", delivery=delivery
    )


def is_job(value: str) -> bool:
    """Tell a Retry's target apart, once for every front door: a job id (``job_…``) or else a run id."""
    return value.startswith("job_")


def retry(app: App, value: str, like: Request) -> list[o.Outcome]:
    """Retry what a Retry button (or the console's ``retry``) names: a dead job, or a failed run."""
    if is_job(value):
        return retry_job(app, value)
    return app.engine.retry(value, like)


def retry_home(app: App, value: str) -> str | None:
    """Return the conversation a Retry belongs to: its failed job's, or its failed run's (None: unknown)."""
    from sqlmodel import Session

    from memory.job_tables import Job
    from memory.tables import Run

    with Session(app.db) as s:
        row = s.get(Job, value) if is_job(value) else s.get(Run, value)
        return (row.conversation or None) if row is not None else None


def retry_job(app: App, job_id: str) -> list[o.Outcome]:
    """Queue a dead job again (the Retry button on a failed job)."""
    job = app.jobs.retry(job_id)
    if job is not None:
        kind = app.jobs.kinds.get(job.kind)
        # Told to the clicker only: the job's own message shows its progress to everyone.
        return [o.Notice(f"Retrying {kind.label if kind else job.kind} ({job.id}).")]
    existing = app.jobs.get(job_id)
    if existing is None:
        return [o.Notice(f"There is no job {job_id}.")]
    return [o.Notice(f"Job {job_id} is {existing.status}; there is nothing to retry.")]
