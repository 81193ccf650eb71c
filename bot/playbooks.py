"""Playbooks in the App: the shipped ones stored, the ``playbook.run`` job, the scheduler, and the chat commands.

Commands (any channel, through ``bot.commands.command``):

- ``playbooks``: each playbook with its trigger, next run and last result;
- ``playbook run|pause|resume|show <name>``;
- ``playbook approve <run> [without 2 3]`` / ``playbook reject <run>``: decide a run's batch card;
- ``playbook retry|skip <run>``: a run stopped at a failed step; ``playbook trace <run>``;
- ``playbook replay <run> [from <step>]``; ``playbook backfill <name> run|skip``: missed slots.

Pasting a playbook's YAML is a chat message like any other: the playbooks agent's rule proposes
``playbooks.save``, whose card shows the validation result and the diff (agents/playbooks).
"""

from __future__ import annotations

import logging
import re
import weakref
from datetime import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from agents.jobkind import JobContext, JobKind, JobResult
from bot.costs import build_summariser
from bot.digest import DIGEST_KIND, DigestSources, build_digest
from bot.messages import Reply
from bot.queues import waiting_lines
from bot.render import render_all
from graph.playbooks.queries import BUILTIN, Query, QueryContext
from graph.playbooks.runner import PlaybookRunner, Report
from graph.playbooks.schedule import PLAYBOOK_KIND, Missed, PlaybookScheduler, slot_time
from graph.playbooks.shipped import SHIPPED, daily_digest
from memory import playbooks as store
from memory.db import transaction
from memory.job_tables import DigestSlot

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

USAGE = (
    "Usage: playbooks · playbook run|pause|resume|show <name> · playbook approve <run> [without 2 3] · "
    "playbook reject <run> · playbook retry|skip|trace <run> · playbook replay <run> [from <step>] · "
    "playbook backfill <name> run|skip"
)
_WITHOUT = re.compile(r"^(?P<run>\S+)(?:\s+without\s+(?P<nums>[\d ,]+))?$", re.I)
_services: weakref.WeakKeyDictionary[Any, Playbooks] = weakref.WeakKeyDictionary()


def digest_sources(app: App) -> DigestSources:
    """Return where the digest reads from in this App (its job and its playbook share them)."""
    settings = app.settings
    return DigestSources(
        db=app.db,
        approvals=app.approvals,
        ledger=app.ledger,
        tz=ZoneInfo(settings.coo_timezone),
        summariser=build_summariser(settings, app.ledger),
        sections=[section for spec in app.specs for section in spec.digest],
        waiting=lambda: waiting_lines(app),
    )


def digest_query(sources: DigestSources) -> Query:
    """Return the ``digest.build`` query: the digest's text, built exactly as the ``digest.build`` job builds it."""

    def query(ctx: QueryContext, args: dict[str, Any]) -> str:
        run_id = str(ctx.trigger.get("run_id") or ctx.trigger.get("slot") or "playbook")
        destination = str(ctx.trigger.get("conversation") or "")
        return build_digest(sources, ctx.today, ctx.now, run_id=run_id, destination=destination).text

    return query


def parse_clock(text: str) -> time:
    """Parse ``HH:MM`` (24-hour), as ``COO_DIGEST_TIME`` is written.

    Raises:
        ValueError: Not a time of day.
    """
    hours, _, minutes = text.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def digest_send(app: App) -> Query:
    """Return the ``digest.send`` query: queue the ``digest.build`` job, the one that builds and posts a digest.

    Not a read like the other queries: it queues the App's own job (no workspace write, no agent
    operation), so the scheduled digest is the very job ``/digest`` runs: the same text, the same
    cards, its window recorded under its job id, its progress edited into one message. A scheduled
    slot claims its local day for ``COO_DIGEST_TO`` (the ``DigestSlot`` row, in the job's transaction):
    one digest per day and destination, even across a change of ``COO_DIGEST_TIME`` or a step run again.
    """

    def query(ctx: QueryContext, args: dict[str, Any]) -> str:
        slot = str(ctx.trigger.get("slot") or "")
        asked_in = str(ctx.trigger.get("conversation") or "")
        try:
            day, scheduled = slot_time(slot).astimezone(ctx.tz).date(), True
        except ValueError:  # `playbook run daily-digest`: today's, where it was asked
            day, scheduled = ctx.today, False
        # Scheduled: to COO_DIGEST_TO only (playbooks may report elsewhere, COO_PLAYBOOKS_TO); unset, none.
        destination = (app.settings.coo_digest_to or "") if scheduled else asked_in
        if not destination:
            return "The digest has nowhere to go: set COO_DIGEST_TO."
        key = f"digest:{day.isoformat()}:{destination}" if scheduled else f"digest:playbook:{ctx.trigger.get('run_id')}"
        try:
            with transaction(app.db) as s:
                if scheduled and s.get(DigestSlot, (day.isoformat(), destination)) is not None:
                    return f"The digest for {day.isoformat()} to {destination} was already sent."
                job = app.jobs.enqueue(s, DIGEST_KIND, key=key, args={"day": day.isoformat()}, conversation=destination)
                if scheduled:
                    s.add(DigestSlot(day=day.isoformat(), destination=destination, job_id=job.id, claimed_by=app.jobs.runner.worker))
                job_id = job.id
        except IntegrityError:
            return f"The digest for {day.isoformat()} to {destination} was already sent."
        log.info("digest for %s to %s queued (job %s)", day, destination, job_id)
        return job_id

    return query


class Playbooks:
    """One App's playbook runner and scheduler (the shipped playbooks stored on first use)."""

    def __init__(self, app: App) -> None:
        self.app = app
        tz = ZoneInfo(app.settings.coo_timezone)
        queries: dict[str, Query] = {
            **BUILTIN,
            "digest.build": digest_query(digest_sources(app)),
            "digest.send": digest_send(app),
        }
        self.runner = PlaybookRunner(app.engine, tz=tz, queries=queries)
        self.destination = app.settings.playbooks_destination or ""
        self.scheduler = PlaybookScheduler(
            app.db, app.jobs, tz=tz, destination=self.destination, on_missed=self._missed
        )
        shipped = {**SHIPPED, "daily-digest": daily_digest(parse_clock(app.settings.coo_digest_time))}
        for name, text in shipped.items():
            row = store.ensure(app.db, name, text, by="coo")
            if row.created_by == "coo" and row.text != text:
                # coo wrote it (COO_DIGEST_TIME changed, or an older release's text): the settings' wins.
                # A version the operator saved is theirs, and stays.
                store.save(app.db, name, text, by="coo")

    def _missed(self, missed: Missed) -> None:
        if self.destination:
            self.app.notifier.deliver(self.destination, [Reply(text=missed.text)])

    def resume_decided(self) -> list[str]:
        """Resume waiting runs whose cards were all decided (say, one by one with each card's buttons).

        Each run's outcomes go to its conversation. Returns the ids of the runs resumed.
        """
        resumed = []
        for row in store.with_status(self.app.db, "waiting"):
            if self.runner.batch(row.id):
                continue
            rep = self.runner.resume(row.id)
            if rep.outcomes and row.conversation:
                self.app.notifier.deliver(row.conversation, render_all(rep.outcomes))
            resumed.append(row.id)
        return resumed

    def fire_hook(self, hook: str, key: str, body: str) -> list[str]:
        """Claim a run of every playbook triggered by this inbound hook, once per delivery; return their ids.

        The payload came from outside: it is the run's ``trigger.payload`` and the run is untrusted, so
        policy asks before any write its steps propose, whatever the trust levels say.
        """
        claimed = []
        for name in store.names(self.app.db):
            pb = self.runner.load(name)
            if pb is None or pb.trigger.hook != hook or store.switch(self.app.db, name).paused:
                continue
            trigger = {"hook": hook, "payload": body[:20_000], "untrusted": True}
            run_id = self.scheduler.claim(name, pb.version, f"event:hook:{key}"[:100], trigger)
            if run_id is not None:
                claimed.append(run_id)
        return claimed

    def run_job(self, ctx: JobContext) -> JobResult:
        """Run a claimed slot (the ``playbook.run`` job)."""
        trigger = ctx.args.get("trigger") or {}
        run_id = str(ctx.args["run_id"])
        rep = self.runner.run_claimed(run_id, self.app.deciders_for, trigger)
        row = store.get(self.app.db, run_id)
        pb = self.runner.load(row.playbook, row.version) if row is not None else None
        # A playbook with no message step says nothing when it went well (the digest posts itself).
        quiet = rep.status == "done" and pb is not None and not any(step.message is not None for step in pb.steps)
        return JobResult(text="" if quiet else rep.text, data={"run_id": rep.run_id, "status": rep.status})


def service(app: App) -> Playbooks:
    """Return the App's playbooks (built once per App)."""
    found = _services.get(app)
    if found is None:
        found = _services[app] = Playbooks(app)
    return found


def playbook_kind(app: App) -> JobKind:
    """Return the ``playbook.run`` job kind: runs one claimed slot (args ``{"run_id": …}``)."""
    return JobKind(
        name=PLAYBOOK_KIND,
        run=lambda ctx: service(app).run_job(ctx),
        title="the playbook",
        time_limit_s=600.0,
        max_retries=2,
        backoff_s=30.0,
    )


def _listing(pbs: Playbooks) -> str:
    db = pbs.app.db
    names = store.names(db)
    if not names:
        return "No playbooks yet. Paste a playbook's YAML to create one."
    lines = ["Playbooks:"]
    for name in names:
        pb = pbs.runner.load(name)
        if pb is None:
            continue
        paused = store.switch(db, name).paused
        nxt = pbs.scheduler.next_run(name)
        when = "paused" if paused else (f"next {nxt.astimezone(pbs.runner.tz):%a %d %b %H:%M}" if nxt else pb.trigger.describe())
        runs = store.runs_of(db, name, 1)
        last = f"last {runs[0].status} ({runs[0].slot})" if runs else "never ran"
        lines.append(f"  • {name} v{pb.version}: {when}; {last}")
    return "\n".join(lines)


def _report(rep: Report) -> list[Reply]:
    return render_all(rep.outcomes)


def playbook_command(app: App, conversation: str, actor: str, text: str) -> list[Reply] | None:
    """Answer a ``playbooks`` / ``playbook …`` line; None when the line is not one."""
    words = text.strip().split()
    if not words or words[0].lower() not in ("playbooks", "playbook", "/playbooks", "/playbook"):
        return None
    head = words[0].lower().lstrip("/")
    if head == "playbooks" and len(words) == 1:
        return [Reply(text=_listing(service(app)))]
    if head != "playbook" or len(words) < 3:
        return [Reply(text=USAGE)]
    if not app.is_operator(actor):
        return [Reply(text="Only an operator can manage playbooks. Nothing was changed.")]
    verb, rest = words[1].lower(), " ".join(words[2:])
    pbs = service(app)
    runner = pbs.runner
    channel = conversation.split(":", 1)[0]
    if verb == "run":
        pb = runner.load(rest)
        if pb is None:
            return [Reply(text=f"There is no playbook {rest!r}. Type `playbooks` to list them.")]
        return _report(runner.run_now(pb, conversation=conversation, channel=channel, deciders=app.deciders_for(channel)))
    if verb in ("pause", "resume"):
        if store.current(app.db, rest) is None:
            return [Reply(text=f"There is no playbook {rest!r}.")]
        changed = store.set_paused(app.db, rest, verb == "pause", by=actor)
        state = "paused" if verb == "pause" else "running again"
        return [Reply(text=f"Playbook {rest} is {state}." if changed else f"Playbook {rest} was already {state.split()[0]}.")]
    if verb == "show":
        row = store.current(app.db, rest)
        return [Reply(text=f"Playbook {rest} v{row.version}:\n{row.text}" if row else f"There is no playbook {rest!r}.")]
    if verb in ("approve", "reject"):
        m = _WITHOUT.match(rest)
        if m is None:
            return [Reply(text=USAGE)]
        without = [int(n) for n in re.findall(r"\d+", m["nums"] or "")]
        return render_all(runner.decide_batch(m["run"], actor, approve=verb == "approve", without=without))
    if verb == "retry":
        return _report(runner.retry(rest))
    if verb == "skip":
        return _report(runner.skip(rest))
    if verb == "trace":
        return [Reply(text=runner.trace(rest))]
    if verb == "replay":
        run, _, step = rest.partition(" from ")
        return _report(runner.replay(run.strip(), step.strip() or None))
    if verb == "backfill":
        name, _, choice = rest.partition(" ")
        if choice.strip().lower() not in ("run", "skip"):
            return [Reply(text=USAGE)]
        slots = pbs.scheduler.backfill(name, choice.strip().lower() == "run")
        if not slots:
            return [Reply(text=f"No missed runs of {name} wait for a decision.")]
        did = "queued to run now" if choice.strip().lower() == "run" else "skipped"
        return [Reply(text=f"{len(slots)} missed run(s) of {name} {did}.")]
    return [Reply(text=USAGE)]
