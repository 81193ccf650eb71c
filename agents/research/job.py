"""The ``research.fetch`` job: read each approved URL, keep it in memory untrusted, summarise with sources.

Idempotent by the job key: a page is stored with ``meta.research_key`` = the key, and a rerun of the
same job (a redelivery, a worker that died before finishing) finds what it stored and neither fetches
nor stores that page again. All pages are stored in one transaction, after every fetch, so a job that
fails stores nothing. The summary is the model's when a summariser is given (charged to the budget,
its prompt version recorded), else extractive with no model call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.joberrors import JobFailed
from agents.jobkind import JobContext, JobKind, JobResult
from agents.research.prompt import (
    EXTRACTIVE_VERSION,
    RESEARCH_PROMPT_VERSION,
    PageText,
    build_facts,
    extractive_summary,
)
from agents.research.schema import FETCH_KIND, ResearchArgs, ResearchFailure, ResearchResult, ResearchSource
from connectors.errors import WebError
from connectors.web import Fetcher
from connectors.web_text import extract
from graph.summary import Summariser
from memory.db import transaction
from memory.knowledge.errors import KnowledgeError
from memory.knowledge.store import MAX_TEXT, KnowledgeStore
from memory.knowledge.tables import KnowledgeItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Read:
    url: str
    final_url: str
    title: str
    text: str
    truncated: bool


def stored_page(db: Engine, url: str, key: str) -> KnowledgeItem | None:
    """Return the live page this job (by key) already stored for a URL, if any."""
    with Session(db) as s:
        rows = s.exec(
            select(KnowledgeItem).where(
                col(KnowledgeItem.source) == f"web:{url}", col(KnowledgeItem.deleted_at).is_(None)
            )
        ).all()
    return next((r for r in rows if (r.meta or {}).get("research_key") == key), None)


def research_kind(
    fetcher: Fetcher,
    store: KnowledgeStore,
    summariser: Summariser | None,
    *,
    max_retries: int = 2,
    backoff_s: float = 10.0,
    time_limit_s: float = 300.0,
) -> JobKind:
    """Return the job kind that reads the pages of an approved research."""

    def run(ctx: JobContext) -> JobResult:
        args = ResearchArgs.model_validate(ctx.args)
        sources: list[ResearchSource] = []
        fresh: list[tuple[ResearchSource, _Read]] = []
        failures: list[ResearchFailure] = []
        texts: list[PageText] = []
        for i, url in enumerate(args.urls, 1):
            ctx.progress.update(f"Reading {url}", step=i, of=len(args.urls) + 1)
            known = stored_page(ctx.db, url, ctx.key)
            if known is not None:  # this job read it before (a rerun): no second fetch
                meta = known.meta or {}
                src = ResearchSource(
                    n=0, url=url, final_url=str(meta.get("final_url", url)), title=str(meta.get("title", "")),
                    item_id=known.id, chars=len(known.text), truncated=bool(meta.get("truncated")),
                )  # fmt: skip
                sources.append(src)
                texts.append(PageText(0, url, src.title, known.text))
                continue
            try:
                page = fetcher.fetch(url)
            except WebError as exc:
                failures.append(ResearchFailure(url=url, error=str(exc), permanent=exc.permanent))
                continue
            got = extract(page)
            read = _Read(url, page.final_url, got.title, got.text, page.truncated)
            src = ResearchSource(
                n=0, url=url, final_url=page.final_url, title=got.title, chars=len(got.text),
                truncated=page.truncated,
            )  # fmt: skip
            sources.append(src)
            fresh.append((src, read))
            texts.append(PageText(0, url, got.title, got.text))
        if not sources:
            permanent = all(f.permanent for f in failures)
            detail = "; ".join(f.line() for f in failures)
            raise JobFailed(f"no page could be read ({detail})", retry=not permanent)
        stored = _store(ctx, store, fresh, sources)
        for n, (src, seen) in enumerate(zip(sources, texts, strict=True), 1):
            src.n = n
            texts[n - 1] = PageText(n, seen.url, seen.title, seen.text)
        ctx.progress.update("Summarising", step=len(args.urls) + 1, of=len(args.urls) + 1)
        result = _summarise(ctx, summariser, args.topic, texts, sources, failures)
        result.stored = stored
        result.max_bytes = fetcher.limits.max_bytes
        return JobResult(text=result.render(), data=result.model_dump(mode="json"))

    return JobKind(
        name=FETCH_KIND,
        run=run,
        title="the research",
        time_limit_s=time_limit_s,
        max_retries=max_retries,
        backoff_s=backoff_s,
    )


def _store(
    ctx: JobContext,
    store: KnowledgeStore,
    fresh: list[tuple[ResearchSource, _Read]],
    sources: list[ResearchSource],
) -> list[int]:
    """Store every newly read page in one transaction; return the ids this job created."""
    created = [s.item_id for s in sources if s.item_id is not None]  # stored by an earlier attempt
    if not fresh:
        return [i for i in created if i is not None]
    try:
        with transaction(ctx.db) as s:
            for src, page in fresh:
                body = f"{page.title}\n\n{page.text}" if page.title else page.text
                if not body.strip():
                    continue
                meta = {
                    "url": page.url,
                    "final_url": page.final_url,
                    "title": page.title,
                    "truncated": page.truncated,
                    "research_key": ctx.key,
                    "fetched_at": ctx.now().isoformat(),
                }
                got = store.remember(
                    s, body[:MAX_TEXT], kind="document", source=f"web:{page.url}", trusted=False, meta=meta
                )
                src.item_id = got.item.id
                if got.created or got.revived:
                    assert got.item.id is not None
                    created.append(got.item.id)
    except KnowledgeError as exc:
        raise JobFailed(f"the pages could not be stored ({exc})") from None
    return [i for i in created if i is not None]


def _summarise(
    ctx: JobContext,
    summariser: Summariser | None,
    topic: str,
    texts: list[PageText],
    sources: list[ResearchSource],
    failures: list[ResearchFailure],
) -> ResearchResult:
    common = {"topic": topic, "sources": sources, "failures": failures}
    if summariser is not None:
        got = summariser.summarise(build_facts(topic, texts), run_id=ctx.job.id)
        if got is not None and got.text:
            return ResearchResult(
                **common,  # type: ignore[arg-type]
                summary=got.text,
                method="model",
                prompt_version=RESEARCH_PROMPT_VERSION,
                model=got.model,
                cost_usd=got.cost_usd,
            )
        log.info("research %s: no model summary (budget or model); using the extractive one", ctx.job.id)
    return ResearchResult(
        **common,  # type: ignore[arg-type]
        summary=extractive_summary(topic, texts),
        method="extractive",
        prompt_version=EXTRACTIVE_VERSION,
    )
