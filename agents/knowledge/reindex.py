"""The knowledge agent's job: rebuild the vector index from SQL (``reindex`` in any channel)."""

from __future__ import annotations

from agents.jobkind import JobContext, JobKind, JobResult, Retry
from memory.knowledge.store import KnowledgeStore

REINDEX_KIND = "knowledge.reindex"
REINDEX_RETRY = Retry(max_retries=2, backoff_s=5.0)


def reindex_kind(store: KnowledgeStore) -> JobKind:
    """Return the job kind that rebuilds the knowledge index from SQL (idempotent: a rebuild is a rebuild)."""

    def run(ctx: JobContext) -> JobResult:
        ctx.progress.update("Re-indexing memory: rebuilding the vector index from SQL", step=1, of=1)
        n = store.rebuild_index()
        return JobResult(text=f"Memory re-indexed: {n} vector(s) from {store.count()} live item(s).")

    return JobKind(
        name=REINDEX_KIND,
        run=run,
        title="re-indexing memory",
        time_limit_s=600.0,
        **REINDEX_RETRY.options(),
    )
