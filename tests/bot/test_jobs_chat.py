"""Long work in chat: answered at once, one message edited with progress, the result in the same thread;
a failure arrives in plain words with a Retry button that works."""

from __future__ import annotations

import asyncio

import pytest

from bot.dispatch import Click, Dispatcher
from bot.jobs import request_digest, start_job
from graph.jobs.errors import JobFailed
from graph.jobs.kinds import JobContext, JobKind, JobResult
from tests.fakes.outbound import RecordingOutbound
from tests.fakes.server import wait_for

OPS = {"coo_operators": ["test:U1"]}


def job_status(app, job_id: str) -> str:
    job = app.jobs.get(job_id)
    return job.status if job else "missing"


def test_digest_request_is_one_message_edited_to_the_result(app_factory):
    app = app_factory(settings=OPS)
    out = RecordingOutbound()
    app.notifier.register("test", out)
    app.start_workers()

    job_id = request_digest(app, "test:C1")
    wait_for(lambda: job_status(app, job_id) == "done", what="digest job done")
    # The job's row turns done before its last edit is posted: wait for the edit, not the row.
    wait_for(lambda: any(t.startswith("Daily digest for ") for t in out.edits_of(1)), what="digest edited in")
    # Given nothing waits for approval, the whole exchange is one message: posted at once, then edited.
    assert out.texts() == ["Working on the digest…"]
    edits = out.edits_of(1)
    assert edits[0].startswith("Building the digest: reading what was done") and edits[0].endswith("(1/3)")
    assert edits[-1].startswith("Daily digest for ")
    assert all(ref == {"n": 1} for ref, _ in out.updated)


async def test_failed_job_posts_the_error_with_retry_and_retry_runs_it_again(app_factory):
    app = app_factory(settings=OPS)
    out = RecordingOutbound()
    app.notifier.register("test", out)
    source_up = False

    def fetch(ctx: JobContext) -> JobResult:
        ctx.progress.update("Fetching the report")
        if not source_up:
            raise JobFailed("the report server answered 503")
        return JobResult(text="Report fetched: 12 rows.")

    app.jobs.add(JobKind("test.fetch", fetch, title="fetching the report", max_retries=1, backoff_s=0.01))
    await asyncio.to_thread(app.start_workers)

    job_id = await asyncio.to_thread(
        start_job, app, "test.fetch", conversation="test:C1", args={}, text="Working on it…"
    )
    await asyncio.to_thread(wait_for, lambda: job_status(app, job_id) == "dead", what="job dead")
    # The row turns dead before the failure is posted: wait for the post, not the row.
    await asyncio.to_thread(wait_for, lambda: len(out.sent) >= 2, what="failure posted")
    await asyncio.to_thread(
        wait_for, lambda: out.edits_of(1)[-1:] == ["Fetching the report failed."], what="progress closed"
    )
    # The failure is in plain words, posted in the thread with a Retry button for this job.
    assert out.texts()[0] == "Working on it…"
    failure = out.sent[-1][1]
    assert failure.text == "Fetching the report failed after 2 attempt(s): the report server answered 503."
    assert [(b.action, b.value) for b in failure.buttons] == [("retry", job_id)]
    assert (
        "Fetching the report failed (attempt 1 of 2): the report server answered 503. Trying again in 0.01 s."
        in out.edits_of(1)
    )
    assert out.edits_of(1)[-1] == "Fetching the report failed."

    d = Dispatcher(app, "test", out)
    refused = await d.click(Click("c1", "test:C1", "test:U9", "retry", job_id))
    assert refused[0].text.startswith("Only this workspace's operators")
    assert job_status(app, job_id) == "dead"

    source_up = True
    [said] = await d.click(Click("c2", "test:C1", "test:U1", "retry", job_id))
    assert said.text == f"Retrying fetching the report ({job_id})."
    await asyncio.to_thread(wait_for, lambda: job_status(app, job_id) == "done", what="job done on retry")
    await asyncio.to_thread(
        wait_for, lambda: out.edits_of(1)[-1] == "Report fetched: 12 rows.", what="result"
    )
    [again] = await d.click(Click("c3", "test:C1", "test:U1", "retry", job_id))
    assert again.text == f"Job {job_id} is done; there is nothing to retry."


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_console_digest_and_retry_of_a_job(app_factory):
    from bot.console import ConsoleSession, format_reply
    from bot.notify import ConsoleOutbound

    app = app_factory()
    printed: list[str] = []
    chat = ConsoleSession(app)

    class Lines:
        def write(self, text: str) -> None:
            printed.append(text)

        def flush(self) -> None:
            pass

    def show(reply):
        chat.notice(reply)
        return format_reply(reply)

    app.notifier.register("console", ConsoleOutbound(Lines(), show))  # type: ignore[arg-type]
    app.start_workers()
    assert chat.send("/digest") == []
    wait_for(lambda: any(p.startswith("Daily digest for") for p in printed), what="digest printed")
    assert printed[0].startswith("Working on the digest…")
    assert chat.send("retry job_nope")[0].text == "There is no job job_nope."


def test_reindex_runs_as_a_job_with_one_edited_message(app_factory):
    from bot.console import ConsoleSession
    from bot.jobs import request_reindex

    app = app_factory(settings=OPS)
    chat = ConsoleSession(app)
    chat.send("remember Dana likes oat milk")
    chat.send("approve")
    out = RecordingOutbound()
    app.notifier.register("test", out)
    app.start_workers()
    job_id = request_reindex(app, "test:C1")
    wait_for(lambda: job_status(app, job_id) == "done", what="re-index job done")
    wait_for(
        lambda: out.edits_of(1)[-1:] != [] and out.edits_of(1)[-1].startswith("Memory re-indexed"),
        what="re-index result edited in",
    )
    assert out.texts() == ["Re-indexing memory…"]
    assert out.edits_of(1)[-1] == "Memory re-indexed: 1 vector(s) from 1 live item(s)."
    assert "oat milk" in chat.send("recall what does Dana drink")[0].text
