"""The daily digest: yesterday's actions and their cost, what waits, spend, tasks, calendar, failures.

It is built by the ``digest.build`` job (progress shown by editing one message), so it never holds up
a chat. The model is asked for a short opening only when there is something to summarise, and the
digest shows what it cost itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.contract import Action
from agents.jobkind import JobContext, JobKind, JobResult
from agents.spec import DIGEST_LINES, DigestDay, DigestPart, DigestSection, more_lines
from graph import outcomes as o
from graph.approvals import ApprovalStore
from graph.budget import BudgetLedger
from graph.spend_report import month_start, total
from graph.summary import Summariser, Summary
from memory import digests, eventlog, jobs
from memory.digests import Window
from memory.tables import Approval, Event, Run, Spend

DIGEST_KIND = "digest.build"
MAX_LINES = DIGEST_LINES  # per section; the rest is counted
MAX_CARDS = 10


@dataclass(frozen=True)
class ActionLine:
    """One effect of the day: when, what, its share of its run's model cost, and whether it was undone."""

    at: datetime
    text: str
    cost_usd: float
    undone: bool


@dataclass
class Digest:
    """The facts of one digest."""

    day: date  # the day it is sent for; it covers the day before
    tz: tzinfo
    actions: list[ActionLine] = field(default_factory=list)
    pending: list[Approval] = field(default_factory=list)
    spend_yesterday: float = 0.0
    spend_month: float = 0.0
    cap_day: float | None = None
    cap_month: float | None = None
    parts: list[DigestPart] = field(default_factory=list)  # the agents' sections (tasks, calendar ...)
    now: datetime | None = None
    failures: list[str] = field(default_factory=list)
    since: datetime | None = None  # the span covered (None: the local day before ``day``)
    until: datetime | None = None
    span: str = "yesterday"  # how "Done …" names the span

    @property
    def actions_cost(self) -> float:
        """Return the model cost of yesterday's actions."""
        return sum(a.cost_usd for a in self.actions)

    @property
    def worth_summarising(self) -> bool:
        """Tell whether there is anything for a model to summarise."""
        return bool(self.actions or self.pending or self.failures)


@dataclass(frozen=True)
class DigestSources:
    """Where the digest reads from, and the optional model that writes its opening."""

    db: Engine
    approvals: ApprovalStore
    ledger: BudgetLedger
    tz: tzinfo = UTC
    summariser: Summariser | None = None
    # The agents' sections, in order (``app.specs``' ``digest``); None: the default catalog's, on ``db``.
    sections: Sequence[DigestSection] | None = None
    waiting: Callable[[], list[str]] | None = None  # jobs whose queue has no live worker (bot/worker.py)


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return the UTC start and end of a local calendar day."""
    start = datetime.combine(day, time(0), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def collect_actions(db: Engine, first: datetime, last: datetime) -> list[ActionLine]:
    """Return the effects between two times, each with its share of its run's model cost."""
    with Session(db) as s:
        effects = s.exec(
            select(Event)
            .where(Event.kind == "effect", col(Event.at) >= first, col(Event.at) < last)
            .order_by(col(Event.seq))
        ).all()
        run_ids = {e.run_id for e in effects}
        costs = dict(
            s.exec(
                select(Spend.run_id, func.coalesce(func.sum(Spend.cost_usd), 0.0))
                .where(col(Spend.run_id).in_(run_ids))
                .group_by(Spend.run_id)
            ).all()
        )
        per_run = {r: sum(1 for e in effects if e.run_id == r) for r in run_ids}
        return [
            ActionLine(
                at=e.at,
                text=f"{e.action}: {e.payload.get('text', '')}".rstrip(": "),
                cost_usd=float(costs.get(e.run_id, 0.0)) / per_run[e.run_id],
                undone=eventlog.compensation_of(s, e.id) is not None,
            )
            for e in effects
        ]


def collect_failures(db: Engine, first: datetime, last: datetime, now: datetime) -> list[str]:
    """Return runs that failed in the window and dead jobs of the last week, in plain words.

    A run counts when it finished (failed), not when it was asked: a card approved days later fails then.
    """
    ended = func.coalesce(col(Run.finished_at), col(Run.created_at))
    with Session(db) as s:
        runs = s.exec(select(Run).where(Run.status == "failed", ended >= first, ended < last)).all()
    lines = [
        f"Run {r.id} failed ({r.error or 'error'}): {r.input[:60]!r} — Retry it from its message"
        for r in runs
    ]
    for job in jobs.recent_dead(db, now - timedelta(days=7)):
        lines.append(f"Job {job.id} ({job.kind}) gave up after {job.attempts} attempt(s): {job.last_error}")
    return lines


def collect(sources: DigestSources, day: date, now: datetime, window: Window | None = None) -> Digest:
    """Gather the facts of the digest for ``day``: over ``window``, else over the day before."""
    first, last = local_day_bounds(day - timedelta(days=1), sources.tz)
    d = Digest(day=day, tz=sources.tz)
    if window is not None:
        first, last = window.since, window.until
        d.since, d.until = first, last
        d.span = "in the last 24 hours" if window.first else "since the last digest"
    d.actions = collect_actions(sources.db, first, last)
    d.pending = sources.approvals.pending()
    d.spend_yesterday = total(sources.db, day - timedelta(days=1), day - timedelta(days=1))
    d.spend_month = total(sources.db, month_start(day), day)
    d.cap_day, d.cap_month = sources.ledger.cap("daily"), sources.ledger.cap("monthly")
    d.now = now
    on = DigestDay(day=day, now=now, tz=sources.tz)
    d.parts = [section.collect(on) for section in _sections(sources)]
    d.failures = collect_failures(sources.db, first, last, now) + (
        sources.waiting() if sources.waiting else []
    )
    return d


def _sections(sources: DigestSources) -> Sequence[DigestSection]:
    if sources.sections is not None:
        return sources.sections
    from agents.catalog import build_specs  # noqa: PLC0415 (the default agents, built on this database)
    from agents.spec import Deps  # noqa: PLC0415

    return [section for spec in build_specs(Deps(db=sources.db, tz=sources.tz)) for section in spec.digest]


def _usd(v: float) -> str:
    if v == 0:
        return "$0.00"
    return f"${v:.6f}" if v < 0.01 else f"${v:.4f}" if v < 1 else f"${v:,.2f}"


def _against(spent: float, cap: float | None) -> str:
    return f"{_usd(spent)} of {_usd(cap)}" if cap is not None else f"{_usd(spent)} (no cap)"


_more = more_lines


def facts_text(d: Digest) -> str:
    """Return the facts a model summarises (no prices, no ids)."""
    lines = [f"Done: {a.text}{' (undone)' if a.undone else ''}" for a in d.actions[:30]]
    lines += [f"Waiting for a decision: {Action.model_validate(ap.action).summary}" for ap in d.pending[:20]]
    lines += [f"Needs attention: {f}" for f in d.failures[:10]]
    lines += [fact for part in d.parts for fact in part.facts]
    return "\n".join(lines)


def render(d: Digest, summary: Summary | None) -> str:
    """Return the digest's text."""
    yesterday = d.day - timedelta(days=1)
    covering = f"{yesterday:%a %d %b}"
    if d.since is not None and d.until is not None:
        covering = f"{d.since.astimezone(d.tz):%a %d %b %H:%M} to {d.until.astimezone(d.tz):%a %d %b %H:%M}"
    out = [f"Daily digest for {d.day:%a %d %b %Y} (covering {covering})"]
    if summary is not None and summary.text:
        out += ["", summary.text]
    out.append("")
    if d.actions:
        out.append(f"Done {d.span}: {len(d.actions)} action(s), model cost {_usd(d.actions_cost)}")
        for a in d.actions[:MAX_LINES]:
            when = a.at.astimezone(d.tz).strftime("%H:%M")
            out.append(f"  • {when} {a.text} ({_usd(a.cost_usd)}){' — undone' if a.undone else ''}")
        out += _more(min(len(d.actions), MAX_LINES), len(d.actions))
    else:
        out.append(f"Done {d.span}: nothing.")
    out.append(f"Waiting for your decision: {len(d.pending)}" + (" (cards below)" if d.pending else ""))
    out.append(
        f"Spend: yesterday {_against(d.spend_yesterday, d.cap_day)} · this month {_against(d.spend_month, d.cap_month)}"
    )
    out += [line for part in d.parts for line in part.lines]
    out.append(f"Needs attention: {len(d.failures)}" if d.failures else "Needs attention: nothing.")
    out += [f"  • {f}" for f in d.failures[:MAX_LINES]]
    out += _more(min(len(d.failures), MAX_LINES), len(d.failures))
    own = summary.cost_usd if summary is not None else 0.0
    calls = "1 model call" if summary is not None else "no model call"
    out += ["", f"This digest cost {_usd(own)} ({calls})."]
    return "\n".join(out)


def build_digest(
    sources: DigestSources,
    day: date,
    now: datetime,
    *,
    run_id: str,
    destination: str,
    progress: Callable[[str, int], object] = lambda _line, _step: None,
) -> JobResult:
    """Build the digest for ``day`` as of ``now``: its text, its cards, and what it cost.

    One builder for the ``digest.build`` job and the ``daily-digest`` playbook, so both say the same.
    """
    progress("Building the digest: reading what was done and what waits", 1)
    span = digests.window(sources.db, job_id=run_id, destination=destination, now=now)
    d = collect(sources, day, now, span)
    summary = None
    if sources.summariser is not None and d.worth_summarising:
        progress("Building the digest: summarising", 2)
        summary = sources.summariser.summarise(facts_text(d), run_id=run_id)
    progress("Building the digest: writing it up", 3)
    cards: list[o.Outcome] = [
        o.Ask(ap.id, ap.run_id, Action.model_validate(ap.action), ap.reason, ap.expires_at)
        for ap in d.pending[:MAX_CARDS]
    ]
    if len(d.pending) > MAX_CARDS:
        cards.append(o.Say(f"{len(d.pending) - MAX_CARDS} more approval(s) wait; type `pending` to see them."))
    return JobResult(
        text=render(d, summary),
        outcomes=cards,
        data={"day": day.isoformat(), "cost_usd": summary.cost_usd if summary else 0.0},
    )


def digest_kind(sources: DigestSources) -> JobKind:
    """Return the job kind that builds and posts a digest; its args are ``{"day": "YYYY-MM-DD"}``."""

    def run(ctx: JobContext) -> JobResult:
        day = date.fromisoformat(str(ctx.args["day"]))
        return build_digest(
            sources,
            day,
            ctx.now(),
            run_id=ctx.job.id,
            destination=ctx.job.conversation,
            progress=lambda line, step: ctx.progress.update(line, step=step, of=3),
        )

    return JobKind(
        name=DIGEST_KIND, run=run, title="the digest", time_limit_s=120.0, max_retries=2, backoff_s=30.0
    )
