"""The research agent: read web pages in a job, summarise them with sources, keep them untrusted.

``research.research`` with URLs is a reversible write that always asks (policy: the URL itself leaves
the building, see ``url_check``). Approved, it only enqueues a ``research.fetch`` job in the executor's
transaction; the job (``graph/research_job.py``) fetches, extracts, stores each page as an untrusted
``document`` with provenance ``web:<url>``, and posts the summary. Undo cancels the job while it has
not started; once it has finished, Undo forgets the pages it stored.

With a topic and no URL there is nothing to fetch: the answer comes from memory, with no job
(``research.recall``, a read, is what the rule grammar proposes for that).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel import col

from agents.contract import Action, ExecContext, Operation, Outcome, RawProposal, SideEffect
from agents.errors import NotReversible
from agents.jobkind import JobKind, Retry
from agents.knowledge import label, relevant
from agents.phrasings import Phrasing, phrasing
from agents.research.prompt import RESEARCH_PROMPT_VERSION
from agents.research.schema import FETCH_KIND, MAX_URLS, ResearchArgs, find_urls
from agents.spec import AgentSpec, Deps, HelpEntry, PolicyCheck, Rule
from connectors.errors import UrlRefused
from connectors.netcheck import AddressPolicy, check_url
from connectors.web import FetchLimits
from memory import jobs
from memory.job_tables import Job
from memory.knowledge.errors import ItemNotFound
from memory.knowledge.store import KnowledgeStore
from memory.tables import utcnow

AGENT = "research"
RESEARCH = f"{AGENT}.research"
NEED_URL = "To read more, give me a page: research <url> (http or https)."
NO_SEARCH = (
    "I can read pages you give me, not search the web: research <url> (http or https), "
    "e.g. research https://example.com/pricing."
)


class TopicArgs(BaseModel):
    """Arguments of a look-up in memory."""

    topic: str = Field(min_length=1, max_length=500, description="What to look up in memory")


def proposal_for(topic: str) -> tuple[str, dict[str, Any]]:
    """Return the operation and arguments for ``research <topic>``: a fetch with URLs, else a recall."""
    if find_urls(topic):
        return RESEARCH, {"topic": topic}
    return f"{AGENT}.recall", {"topic": topic}


def _hosts(urls: list[str]) -> str:
    """Return the hosts (with ports) the URLs go to, as cards show them."""
    return ", ".join(dict.fromkeys(u.split("://", 1)[-1].split("/", 1)[0] for u in urls))


@dataclass(frozen=True)
class ResearchConfig:
    """How research jobs are queued.

    Attributes:
        retry: The fetch job's retries (a server that is down, a timeout) before it fails; its kind
            is built with them and ``research`` enqueues with them.
        clock: The time (tests may control it).
        addresses: Which addresses pages may be read from (None: the job and the policy check are
            not built, e.g. for the grammar alone).
        limits: The fetch limits (bytes, timeouts).
    """

    retry: Retry = Retry(max_retries=2, backoff_s=10.0)
    clock: Callable[[], datetime] = utcnow
    addresses: AddressPolicy | None = None
    limits: FetchLimits = FetchLimits()

    @property
    def max_attempts(self) -> int:
        """Return how many attempts a research job gets."""
        return self.retry.max_attempts


def operations(store: KnowledgeStore, config: ResearchConfig | None = None) -> list[Operation[Any]]:
    """Return the research agent's operations over a knowledge store."""
    config = config or ResearchConfig()
    clock = config.clock

    def from_memory(topic: str) -> Outcome:
        hits, _note = relevant(store, topic, 5)
        if not hits:
            return Outcome(text=f"{NO_SEARCH} Nothing in memory about {topic!r} yet.", payload={"hits": []})
        lines = "\n".join(label(h) for h in hits)
        return Outcome(
            text=f"From memory about {topic!r}:\n{lines}\n{NEED_URL}",
            payload={"hits": [h.id for h in hits]},
        )

    def research(ctx: ExecContext, args: ResearchArgs) -> Outcome:
        if not args.urls:
            return from_memory(args.topic)
        job = jobs.enqueue(
            ctx.session,
            kind=FETCH_KIND,
            key=ctx.idempotency_key,
            args={"topic": args.topic, "urls": args.urls},
            conversation=ctx.conversation,
            max_attempts=config.max_attempts,
        )
        return Outcome(
            text=(
                f"Research started: reading {len(args.urls)} page(s) from {_hosts(args.urls)}; "
                "the summary follows here. Undo cancels it, or forgets what it stored."
            ),
            payload={"job_id": job.id, "urls": args.urls, "prompt_version": RESEARCH_PROMPT_VERSION},
            compensation={"job_id": job.id},
        )

    def undo(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
        job_id = str(payload["job_id"])
        now = clock()
        if jobs.cancel(ctx.session, job_id, now):
            return Outcome(
                text="Cancelled the research before it started; nothing was fetched.", payload=payload
            )
        job = ctx.session.get(Job, job_id)
        if job is None or job.status == "cancelled":
            return Outcome(text="The research was already cancelled.", payload=payload)
        if job.status == "running":
            raise NotReversible("The research is running now; Undo again once it has finished.")
        if job.status == "dead":
            # A dead letter could be retried later: cancel it so nothing is fetched after the undo.
            ctx.session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status) == "dead")
                .values(status="cancelled", finished_at=now)
            )
            return Outcome(
                text="The research had failed and stored nothing; it will not be retried.", payload=payload
            )
        forgotten = []
        for item_id in (job.result or {}).get("stored", []):
            try:
                store.forget(ctx.session, int(item_id))
                forgotten.append(int(item_id))
            except ItemNotFound:
                continue
        shown = ", ".join(f"#{i}" for i in forgotten) or "nothing left to forget"
        return Outcome(
            text=f"Forgot the pages the research stored ({shown}).",
            payload={**payload, "forgotten": forgotten},
        )

    return [
        Operation(
            agent=AGENT,
            name="research",
            description=(
                f"Read up to {MAX_URLS} web pages (http/https URLs, given or written in the topic) in the "
                "background, store them in memory as untrusted documents, and summarise them with sources. "
                "With no URL it answers from memory."
            ),
            args=ResearchArgs,
            side_effect=SideEffect.REVERSIBLE,
            summarize=lambda a: (
                f"Research {a.topic[:120]!r}: read {', '.join(a.urls)}" if a.urls else f"Research {a.topic!r}"
            ),
            changes=lambda a: (
                f"Network: one GET to each of {', '.join(a.urls)} (the URLs are sent to {_hosts(a.urls)}); "
                f"Memory: up to {len(a.urls)} page(s) stored, labelled untrusted; a background job"
                if a.urls
                else "nothing (answered from memory)"
            ),
            execute=research,
            compensate=undo,
        ),
        Operation(
            agent=AGENT,
            name="recall",
            description="Answer a research topic from memory alone (no page is fetched).",
            args=TopicArgs,
            side_effect=SideEffect.READ,
            summarize=lambda a: f"Look up {a.topic!r} in memory",
            changes=lambda a: "nothing",
            execute=lambda ctx, a: from_memory(a.topic),
        ),
    ]


Vote = tuple[Literal["ask", "deny"], str] | None


def url_check(addresses: AddressPolicy) -> Callable[[Action], Vote]:
    """Return the policy check for research: refuse URLs we never fetch, and always ask for the rest.

    Fetching sends the URL (and whatever it carries) to its server, so a research action is never
    run without the operator seeing the exact URLs on the card, whatever its trust level, and a run
    that had read untrusted content says so. IP literals and ``localhost`` are refused here already;
    names are resolved and checked only when fetched (resolving them would send them out).
    """

    def check(action: Action) -> Vote:
        if action.name != RESEARCH:
            return None
        urls = [str(u) for u in action.arguments.get("urls") or []]
        if not urls:
            return None
        for url in urls:
            try:
                check_url(url, addresses)
            except UrlRefused as exc:
                return ("deny", str(exc))
        if action.untrusted_source:
            return (
                "ask",
                f"the run read untrusted content; reading these pages sends the URLs to {_hosts(urls)}",
            )
        return ("ask", f"reading a page sends its URL to {_hosts(urls)}")

    return check


RULES: tuple[Rule, ...] = (
    Rule(
        re.compile(r"^research\s+(?P<topic>.+)$", re.I | re.S),
        lambda m: RawProposal(*proposal_for(m["topic"].strip())),
    ),
)

HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "research <url or topic>",
        "read pages in the background (asks first); a topic alone: from memory",
        ("research https://example.org/pricing", "research competitor pricing"),
    ),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "research.research",
        "research {topic}",
        "write",
        (
            "look into https://example.org/pricing",
            "read this page https://example.com/blog",
            "find out about competitor pricing",
            "research the market for design tools",
            "dig into what others charge for logos",
            "can you research the best accounting software",
        ),
        "look into read this page find out about research dig what the on",
        words="research",
    ),
)


def spec(deps: Deps, config: ResearchConfig | None = None) -> AgentSpec:
    """Return the research agent over ``deps.knowledge`` (no operations without a store).

    Its fetch job and its URL check are built when the config says which addresses may be read and
    there is a store and an HTTP client to read with.
    """
    config = config or ResearchConfig()
    store = deps.knowledge
    ops = tuple(operations(store, config)) if store is not None else ()
    jobs_: tuple[JobKind, ...] = ()
    checks: tuple[PolicyCheck, ...] = ()
    if config.addresses is not None:
        checks = (url_check(config.addresses),)
        if store is not None and deps.http is not None:
            from agents.research.job import research_kind
            from agents.research.prompt import render_research_prompt
            from connectors.web import Fetcher

            fetcher = Fetcher(deps.http(), limits=config.limits, addresses=config.addresses)
            summariser = (
                deps.model(agent=AGENT, prompt=render_research_prompt, max_output_tokens=400)
                if deps.model is not None
                else None
            )
            jobs_ = (research_kind(fetcher, store, summariser, **config.retry.options()),)
    return AgentSpec(
        name=AGENT,
        operations=ops,
        jobs=jobs_,
        enqueues=(FETCH_KIND,),
        rules=RULES,
        help=HELP,
        phrasings=PHRASINGS,
        checks=checks,
    )
