"""Outbound webhooks: the signature scheme, the sender against a loopback receiver (real httpx, real
HTTP), and the whole path in the App: approve a post → a job POSTs it, retried with backoff, dead-lettered
with a Retry button on a final refusal; a target that is not configured is denied and the denial told."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from bot.dispatch import Click, Dispatcher
from bot.webhooks import targets
from connectors.errors import SignatureInvalid, WebhookRejected, WebhookUnavailable
from connectors.webhooks import WebhookSender, WebhookTarget, retry_after_s, sign, signature_header, verify
from graph.jobs.runner import JobRunner
from memory.job_tables import Job
from memory.tables import Approval, utcnow
from tests.fakes.outbound import RecordingOutbound
from tests.fakes.server import serve, wait_for
from tests.fakes.smtp_server import free_port
from tests.fakes.webhook_receiver import Receiver

SECRET = "whsec_0123456789abcdef"
OPS = ["test:U1"]
T0 = 1_767_000_000


# ---- the scheme -----------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1767000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, T0, body) == expected
    assert signature_header(SECRET, T0, body) == f"t={T0},v1={expected}"
    assert verify(SECRET, f"t={T0},v1={expected}", body, now=T0 + 299) == T0


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (None, b"{}", T0, "no Webhook-Signature header"),
        ("v1=abc", b"{}", T0, "must look like"),
        (f"t={T0}", b"{}", T0, "must look like"),
        (signature_header("another-secret-123456", T0, b"{}"), b"{}", T0, "no signature matches"),
        (signature_header(SECRET, T0, b"{}"), b'{"x":1}', T0, "no signature matches"),
        (signature_header(SECRET, T0, b"{}"), b"{}", T0 + 301, "more than 300 s"),
        (signature_header(SECRET, T0, b"{}"), b"{}", T0 - 301, "more than 300 s"),
    ],
    ids=["missing", "no-t", "no-v1", "wrong-secret", "tampered", "stale", "future"],
)
def test_verify_refuses(header, body, now, reason):
    with pytest.raises(SignatureInvalid, match=reason):
        verify(SECRET, header, body, now=now)


def test_verify_accepts_any_of_several_signatures_for_a_rotated_secret():
    old = sign("the-old-secret-123456", T0, b"{}")
    header = f"t={T0},v1={old},v1={sign(SECRET, T0, b'{}')}"
    assert verify(SECRET, header, b"{}", now=T0) == T0


def test_retry_after_in_seconds_or_as_a_date_capped_at_an_hour():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after_s("120") == 120.0
    assert retry_after_s("Tue, 01 Dec 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_s("99999") == 3600.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


# ---- the sender against a loopback receiver -------------------------------------------------------


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    with serve(r.app) as url:
        r.url = url  # type: ignore[attr-defined]
        yield r


def sender_for(url: str) -> WebhookSender:
    return WebhookSender(httpx.Client(timeout=5), {"crm": WebhookTarget("crm", url + "/in", SECRET)})


def test_post_is_signed_and_carries_the_idempotency_key(receiver):
    s = sender_for(receiver.url)
    with s.client:
        delivered = s.send("crm", {"deal": "Dana", "amount": 120}, "act_k1")
    assert (delivered.status, delivered.key) == (200, "act_k1")
    [req] = receiver.requests
    assert req.signature_ok and req.path == "/in"
    assert req.headers["idempotency-key"] == req.headers["webhook-id"] == "act_k1"
    assert req.headers["content-type"] == "application/json"
    assert req.body == b'{"amount":120,"deal":"Dana"}'


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_temporary_answers_are_worth_another_try(receiver, status):
    receiver.script.append((status, {"Retry-After": "7"}))
    s = sender_for(receiver.url)
    with s.client, pytest.raises(WebhookUnavailable, match=f"answered {status}") as err:
        s.send("crm", {}, "k")
    assert not err.value.permanent and err.value.retry_after_s == 7.0 and err.value.status == status


@pytest.mark.parametrize(("status", "what"), [(400, "refused it"), (404, "refused it"), (302, "redirected")])
def test_final_answers_are_permanent_and_redirects_are_not_followed(receiver, status, what):
    receiver.script.append((status, {}))
    s = sender_for(receiver.url)
    with s.client, pytest.raises(WebhookRejected, match=what) as err:
        s.send("crm", {}, "k")
    assert err.value.permanent and err.value.status == status
    assert receiver.count() == 1  # the redirect's target was never asked


def test_no_connection_is_temporary_and_an_unknown_target_is_never_asked(receiver):
    down = sender_for(f"http://127.0.0.1:{free_port()}")
    with down.client, pytest.raises(WebhookUnavailable, match="could not reach"):
        down.send("crm", {}, "k")
    s = sender_for(receiver.url)
    with s.client, pytest.raises(WebhookRejected, match="no webhook target 'https://evil"):
        s.send("https://evil.example/x", {}, "k")
    assert receiver.count() == 0


# ---- the App: approve, the job, retries, dead letters, denials ------------------------------------


def hook_app(app_factory, url: str, **settings):
    return app_factory(
        settings={
            "coo_operators": OPS,
            "coo_webhooks": {"crm": {"url": url + "/crm", "secret": SECRET}},
            "coo_webhook_backoff_s": 30.0,
            "coo_webhook_retries": 3,
            **settings,
        }
    )


async def approve_post(
    app, out: RecordingOutbound, text: str = 'webhook crm {"deal": "Dana", "stage": "won"}'
):
    """Ask for a post, approve its card; return the approved action's idempotency key and its job."""
    app.notifier.register("test", out)
    d = Dispatcher(app, "test", out)
    await d.accept(delivery_id="m1", conversation="test:C1", actor="test:U1", text=text)
    await d.drain()
    card = out.sent[0][1].card
    fields = dict(card.fields)
    assert fields["Action"] == "webhooks.post"
    assert fields["Reversible"] == "NO - this cannot be undone"
    assert fields["Why I ask"] == "irreversible actions always need approval"
    assert await d.click(Click("k1", "test:C1", "test:U1", "approve", card.buttons[0].value)) == []
    assert out.sent[-1][1].text.startswith("Done: Webhook to crm queued")
    with Session(app.db) as s:
        key = s.exec(select(Approval)).one().action["idempotency_key"]
        job = s.exec(select(Job).where(Job.kind == "webhooks.post")).one()
    assert job.key == key
    return key, job


async def test_approved_post_is_delivered_once_signed_by_a_worker(app_factory, receiver):
    app = hook_app(app_factory, receiver.url)
    out = RecordingOutbound()
    key, job = await approve_post(app, out)
    app.start_workers()
    await asyncio.to_thread(wait_for, lambda: app.jobs.get(job.id).status == "done", what="delivery")
    [req] = receiver.requests
    assert req.signature_ok and req.path == "/crm"
    assert req.headers["idempotency-key"] == key
    assert receiver.effects == {key: b'{"deal":"Dana","stage":"won"}'}
    await asyncio.to_thread(
        wait_for, lambda: any("Webhook delivered to crm (200)" in t for t in texts(out)), what="the result"
    )


def texts(out: RecordingOutbound) -> list[str]:
    return out.texts() + [r.text for _, r in out.updated]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def runner_for(app, clock: Clock) -> JobRunner:
    """The App's job kinds under a runner whose clock the test moves (no waiting, no broker)."""
    return JobRunner(app.db, app.jobs.kinds, app.notifier, worker="t", resend=lambda *a: None, clock=clock)


async def test_503_twice_then_200_is_delivered_once_with_backoff(app_factory, receiver):
    # Given a receiver that answers 503, 503 (asking for 120 s), then 200
    receiver.script += [(503, {}), (503, {"Retry-After": "120"})]
    app = hook_app(app_factory, receiver.url)
    out = RecordingOutbound()
    key, job = await approve_post(app, out)
    clock = Clock()
    runner = runner_for(app, clock)
    # When the job runs: first try fails → the retry waits the backoff (30 s)
    assert await asyncio.to_thread(runner.run, job.id) == "retry"
    j = app.jobs.get(job.id)
    assert (j.status, j.attempts, j.run_at) == ("queued", 1, clock.now + timedelta(seconds=30))
    assert await asyncio.to_thread(runner.run, job.id) == "early"  # not before its time
    # second try fails → the backoff doubles to 60 s, but the receiver asked for 120 s
    clock.now += timedelta(seconds=30)
    assert await asyncio.to_thread(runner.run, job.id) == "retry"
    j = app.jobs.get(job.id)
    assert (j.attempts, j.run_at) == (2, clock.now + timedelta(seconds=120))
    # third try lands
    clock.now += timedelta(seconds=120)
    assert await asyncio.to_thread(runner.run, job.id) == "done"
    # Then one delivery, three requests with one key, every one signed; attempts recorded
    j = app.jobs.get(job.id)
    assert (j.status, j.attempts) == ("done", 3)
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {key}
    assert all(r.signature_ok for r in receiver.requests)
    assert list(receiver.effects) == [key]
    said = texts(out)
    assert any(
        "failed (attempt 1 of 4): the webhook target crm answered 503. Trying again in 30 s" in t
        for t in said
    )
    assert any("(attempt 2 of 4)" in t and "Trying again in 120 s" in t for t in said)
    assert any(t == "Webhook delivered to crm (200) on attempt 3." for t in said)


async def test_a_400_is_a_dead_letter_with_a_clear_message_and_retry(app_factory, receiver):
    receiver.script.append((400, {}))
    app = hook_app(app_factory, receiver.url)
    out = RecordingOutbound()
    _key, job = await approve_post(app, out)
    clock = Clock()
    runner = runner_for(app, clock)
    assert await asyncio.to_thread(runner.run, job.id) == "dead"
    j = app.jobs.get(job.id)
    assert (j.status, j.attempts) == ("dead", 1)
    assert j.last_error == "the webhook target crm refused it (400)"
    failed = out.sent[-1][1]
    assert failed.text == (
        "Posting the webhook failed after 1 attempt(s): the webhook target crm refused it (400)."
    )
    [button] = failed.buttons
    assert (button.action, button.value) == ("retry", job.id)
    # Retry puts it back in the queue, and the (now healthy) receiver gets it
    d = Dispatcher(app, "test", out)
    [notice] = await d.click(Click("k2", "test:C1", "test:U1", "retry", job.id))
    assert notice.text.startswith("Retrying posting the webhook")
    clock.now = utcnow() + timedelta(seconds=1)  # the retried job is due from the moment of the click
    assert await asyncio.to_thread(runner.run, job.id) == "done"
    assert [r.status for r in receiver.requests] == [400, 200]


async def test_a_target_that_is_not_configured_is_denied_and_reported(app_factory, receiver):
    app = hook_app(app_factory, receiver.url)
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    await d.accept(
        delivery_id="m1",
        conversation="test:C1",
        actor="test:U1",
        text='webhook https://evil.example/steal {"all": "the data"}',
    )
    await d.drain()
    [(_, reply)] = out.sent
    assert reply.card is None
    assert reply.text.startswith("Cannot POST a webhook to https://evil.example/steal: ")
    assert "there is no webhook target 'https://evil.example/steal' (configured: crm;" in reply.text
    with Session(app.db) as s:
        assert s.exec(select(Approval)).all() == []
        assert s.exec(select(Job).where(Job.kind == "webhooks.post")).all() == []
    assert receiver.count() == 0


def test_targets_come_from_settings_and_secrets_are_masked(app_factory):
    app = hook_app(app_factory, "https://crm.example")
    assert targets(app.settings) == {"crm": WebhookTarget("crm", "https://crm.example/crm", SECRET)}
    assert SECRET not in repr(targets(app.settings)) and SECRET not in repr(app.settings)
    assert app.redactor.text(f"key {SECRET}") == "key " + "*" * len(SECRET)


def test_no_targets_no_tool(app_factory):
    app = app_factory()
    assert "webhooks.post" not in [op.key for op in app.registry.offered()]


async def test_a_payload_that_is_not_a_json_object_is_refused_with_the_reason(app_factory):
    app = hook_app(app_factory, "https://crm.example")
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    await d.accept(delivery_id="m1", conversation="test:C1", actor="test:U1", text="webhook crm {deal: Dana}")
    await d.drain()
    [(_, reply)] = out.sent
    assert reply.card is None
    assert "webhooks.post" in reply.text and "payload" in reply.text
    with Session(app.db) as s:
        assert s.exec(select(Approval)).all() == []
