"""In-process crash cases the serve matrix does not reach: a job's result owed with the job done, and an
edit-modal submission cut off by a crash (before, or after, it replaced the card)."""

from __future__ import annotations

from bot.dispatch import Dispatcher, run_id_for
from graph.jobs.kinds import JobInfo, JobResult
from memory import inbox, outbox
from memory.db import transaction
from tests.bot.test_dispatch import OPS, RecordingOutbound

CLICKS = "test:click"
EDIT = f"{CLICKS}:view:V1:h1"


def test_a_job_result_owed_with_its_job_done_is_posted_once_after_a_crash(app_factory):
    app = app_factory()
    job = JobInfo("job_1", "k", "k:1", "building the digest", "test:C1", 1, 3, "job:job_1")
    result = JobResult(text="Digest ready.")
    with transaction(app.db) as s:  # the runner's transaction that marks the job done
        app.notifier.owe_finished(s, job, result)
    app.close()  # killed before the post

    app2 = app_factory()
    out = RecordingOutbound()
    app2.notifier.register("test", out)
    assert app2.notifier.relay_owed("test") == 1
    app2.notifier.finished(job, result)  # a late report of the same result is owed once: nothing more
    assert app2.notifier.relay_owed("test") == 0
    assert [(c, r.text) for c, r in out.sent] == [("test:C1", "Digest ready.")]
    assert outbox.backlog(app2.db)["pending"] == 0


async def card(app, out) -> str:
    d = Dispatcher(app, "test", out, click_channel=CLICKS)
    await d.accept(delivery_id="e1", conversation="test:C1", actor="test:U1", text="expense 12.50 coffee")
    await d.drain()
    [(_, posted)] = out.sent
    assert posted.card is not None
    d.close()
    return posted.card.buttons[0].value


def record_edit(app, approval_id: str) -> None:
    assert inbox.record(
        app.db,
        delivery_id=EDIT,
        channel=CLICKS,
        conversation="test:C1",
        actor="test:U1",
        text=f"edit {approval_id}",
        meta={"arguments": {"amount": "15", "memo": "coffee"}},
    )


async def recover(app_factory) -> RecordingOutbound:
    app2 = app_factory(settings=OPS)
    out = RecordingOutbound()
    d = Dispatcher(app2, "test", out, click_channel=CLICKS)
    await d.recover()
    await Dispatcher(app2, "test", out, click_channel=CLICKS).recover()  # a second sweep adds nothing
    assert inbox.get(app2.db, EDIT).status == "done"
    return out


def new_card(out: RecordingOutbound) -> str:
    cards = [r for _, r in out.sent if r.card is not None]
    assert len(cards) == 1, out.sent
    return cards[0].text


async def test_an_edit_submitted_just_before_a_crash_is_carried_out_after_it(app_factory):
    app = app_factory(settings=OPS)
    approval = await card(app, RecordingOutbound())
    record_edit(app, approval)  # recorded and acknowledged, then the process died
    app.close()

    out = await recover(app_factory)
    assert "15.00" in new_card(out)
    [(_, closed)] = out.updated
    assert closed.text.startswith("Edited by test:U1") and closed.replaces == f"approval:{approval}"


async def test_an_edit_cut_off_after_it_replaced_the_card_reports_the_new_card_once(app_factory):
    app = app_factory(settings=OPS)
    approval = await card(app, RecordingOutbound())
    record_edit(app, approval)
    assert app.owner.claim(EDIT)
    like = app.request("test", "test:C1", "test:U1", "")
    app.engine.revise(approval, {"amount": "15", "memo": "coffee"}, like, run_id_for("test:view:V1:h1"))
    app.close()  # killed after the engine replaced the card, before its replies were owed

    out = await recover(app_factory)
    assert "15.00" in new_card(out)  # not "already decided": the edit's own new card
    [(_, closed)] = out.updated
    assert closed.text.startswith("Edited by test:U1")


def test_the_runner_owes_a_result_in_the_transaction_that_marks_the_job_done(app_factory):
    from bot.notify import Notifier
    from graph.jobs.kinds import JobKind
    from graph.jobs.workers import Workers
    from memory import jobs
    from tests.fakes.server import wait_for
    from tests.graph.test_jobs import make_queue

    class KilledBeforeThePost(Notifier):
        def finished(self, job: JobInfo, result: JobResult) -> None:
            """The process dies after the job was marked done, before it posts the result."""

    app = app_factory()
    notifier = KilledBeforeThePost(app.db, owner=lambda: app.owner)
    queue = make_queue(app.db, [JobKind("note", lambda ctx: JobResult(text="noted"))], notifier)  # type: ignore[arg-type]
    with Workers(queue, threads=1, tick_s=0.05):
        job = queue.submit("note", key="k1", args={}, conversation="test:C9")
        wait_for(lambda: (jobs.get(app.db, job.id) or job).status == "done", what="the job done")
    queue.close()
    [owed] = outbox.due(app.db, "test")
    assert owed.key == f"job:{job.id}:result:000" and owed.payload["text"] == "noted"

    out = RecordingOutbound()
    app.notifier.register("test", out)
    assert app.notifier.relay_owed("test") == 1
    assert [(c, r.text, r.replaces) for c, r in out.sent] == [("test:C9", "noted", f"job:{job.id}")]
