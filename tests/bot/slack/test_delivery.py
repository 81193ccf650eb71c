"""Scenario: the request path — signatures, acknowledgement, retries, duplicates, crash recovery."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, func, select

from memory import inbox
from memory.tables import InboxItem
from tests.bot.slack.harness import OPS, dm_event, fake_slack, running, text_of


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings=OPS)
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def inbox_rows(app) -> int:
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(InboxItem)).one()


def test_bad_signature_and_stale_timestamp_get_401_and_record_nothing(slack):
    body = json.dumps(dm_event("expense 1 forged"))
    wrong = slack.post(body, "application/json", secret="not-the-secret")
    stale = slack.post(body, "application/json", timestamp=int(time.time()) - 6 * 60)
    unsigned = slack.http.post(
        f"{slack.url}/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    garbage = slack.post("{not json", "application/json", secret="not-the-secret")
    assert [r.status_code for r in (wrong, stale, unsigned, garbage)] == [401, 401, 401, 401]
    slack.drain()
    assert inbox_rows(slack.app) == 0
    # Nothing was even sent to Slack (not the auth.test bolt makes on its first verified request).
    assert slack.fake.calls == []


def test_retry_of_a_handled_event_replies_once(slack):
    event = dm_event("expense 4 stamps")
    assert slack.event(event).status_code == 200
    slack.drain()
    assert len(slack.fake.to("chat.postMessage")) == 1

    # Slack retries the same event_id (e.g. it thought we timed out)
    retry = slack.event(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    slack.drain()
    assert len(slack.fake.to("chat.postMessage")) == 1
    assert inbox_rows(slack.app) == 1
    assert len(slack.app.engine.pending()) == 1


def test_concurrent_duplicates_reply_once(slack):
    event = dm_event("expense 6 envelopes")
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: slack.event(event).status_code, range(8)))
    assert codes == [200] * 8
    slack.drain()
    assert len(slack.fake.to("chat.postMessage")) == 1
    assert len(slack.app.engine.pending()) == 1


def test_event_accepted_before_a_crash_is_processed_after_restart(app_factory):
    first = app_factory(settings=OPS)
    # The delivery was recorded (so Slack got its 200), then the process died before processing it.
    assert inbox.record(
        first.db,
        delivery_id="slack:EvCRASHED",
        channel="slack",
        conversation="slack:D111:1596183880.000001",
        actor="slack:W111",
        text="expense 7 printer paper",
    )
    first.close()

    second = app_factory(settings=OPS)
    with fake_slack() as (fake, url), running(second, fake, url) as slack:
        slack.drain()
        [card] = slack.posted()
        assert (card["channel"], card["thread_ts"]) == ("D111", "1596183880.000001")
        assert "printer paper" in text_of(card)
        # Slack redelivering that same event now changes nothing.
        again = dm_event("expense 7 printer paper", event_id="EvCRASHED")
        assert slack.event(again).status_code == 200
        slack.drain()
        assert len(fake.to("chat.postMessage")) == 1


def test_url_verification_challenge_is_answered(slack):
    # What Slack sends when the Request URL is saved in the app settings.
    body = {
        "token": "verification_token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    resp = slack.event(body)
    assert resp.status_code == 200 and resp.json() == {"challenge": body["challenge"]}
    assert inbox_rows(slack.app) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("", "application/json"),
        ("[1, 2]", "application/json"),
        ("payload=%7Bnope", "application/x-www-form-urlencoded"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded"),
        ("no=command", "application/x-www-form-urlencoded"),
    ],
)
def test_signed_but_malformed_bodies_get_400(slack, body, content_type):
    assert slack.post(body, content_type).status_code == 400
    assert inbox_rows(slack.app) == 0


def test_oversized_body_gets_413(slack):
    body = json.dumps(dm_event("expense 1 " + "x" * 1_100_000))
    assert slack.post(body, "application/json").status_code == 413
