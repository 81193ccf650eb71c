"""Long work reaches Slack and Telegram too: `digest` in a DM, `/digest` in Telegram, and a digest sent by
a process that does not serve the channel (`coo digest --now`) all end as one message, edited in place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.slack.harness import OPS as SLACK_OPS
from tests.bot.slack.harness import dm_event, fake_slack, running, text_of
from tests.bot.telegram import harness as tgh
from tests.fakes.server import wait_for


def test_digest_in_a_slack_dm_is_one_message_edited_to_the_result(app_factory):
    app = app_factory(settings=SLACK_OPS)
    with fake_slack() as (fake, url), running(app, fake, url) as slack:
        app.start_workers()
        event = dm_event("digest")
        assert slack.event(event).status_code == 200
        slack.drain()
        # Given the job was asked for, one message is posted in the DM's thread at once...
        wait_for(lambda: len(slack.posted()) == 1, what="the job's message")
        [msg] = slack.posted()
        [first] = fake.to("chat.postMessage")
        assert first["thread_ts"] == event["event"]["ts"] and first["text"] == "Working on the digest…"
        # ...then edited in place until it holds the digest; nothing else is posted.
        wait_for(
            lambda: any(text_of(u).startswith("Daily digest for") for u in fake.to("chat.update")),
            what="the digest edited in",
        )
        assert {u["ts"] for u in fake.to("chat.update")} == {msg["ts"]}
        assert len(slack.posted()) == 1
        # A retried delivery of the same event starts no second job.
        assert slack.event(event, headers={"X-Slack-Retry-Num": "1"}).status_code == 200
        slack.drain()
        assert len(slack.posted()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_digest_command_in_telegram(app_factory):
    app = app_factory(settings=tgh.OPS)
    with tgh.fake_telegram() as (fake, url), tgh.running(app, fake, url) as tg:
        assert "digest" in [c["command"] for c in fake.to("setMyCommands")[0]["commands"]]
        app.start_workers()
        tg.post(tgh.message_update("/digest"))
        tg.drain()
        wait_for(lambda: len(tg.sent()) == 1, what="the job's message")
        assert tg.sent()[0]["text"] == "Working on the digest…"
        wait_for(
            lambda: any(e["text"].startswith("Daily digest for") for e in fake.to("editMessageText")),
            what="the digest edited in",
        )
        assert len(tg.sent()) == 1


def digest_now(tmp_path: Path, **channel_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_", "REDIS_"))
    }
    env.pop("DATABASE_URL", None)
    env.update(COO_DATA_DIR=str(tmp_path / "data"), **channel_env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "digest", "--now"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_digest_now_posts_to_slack_from_a_process_that_does_not_serve_it(tmp_path: Path):
    with fake_slack() as (fake, url):
        done = digest_now(
            tmp_path, SLACK_BOT_TOKEN=fake.token, SLACK_API_URL=f"{url}/api/", COO_DIGEST_TO="slack:C0DIGEST"
        )
        assert done.returncode == 0, done.stderr
        posts = fake.to("chat.postMessage")
        texts = [p.get("text", "") for p in posts] + [u.get("text", "") for u in fake.to("chat.update")]
        assert posts and all(p["channel"] == "C0DIGEST" for p in posts)
        assert any("Daily digest for" in t for t in texts)


def test_digest_now_posts_to_telegram_from_a_process_that_does_not_serve_it(tmp_path: Path):
    with tgh.fake_telegram() as (fake, url):
        done = digest_now(
            tmp_path,
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_URL=f"{url}/bot",
            COO_DIGEST_TO="telegram:4242",
        )
        assert done.returncode == 0, done.stderr
        sent = fake.to("sendMessage")
        texts = [m.get("text", "") for m in sent] + [e.get("text", "") for e in fake.to("editMessageText")]
        assert sent and all(str(m["chat_id"]) == "4242" for m in sent)
        assert any("Daily digest for" in t for t in texts)
