"""Scenario: slash commands, and what coo sends Slack — rate limits, escaping, splitting, no unfurling."""

from __future__ import annotations

import re

import pytest

from graph.planner import Plan, PlanRequest
from tests.bot.slack.harness import OPS, STRANGER, dm_event, fake_slack, running, text_of


class Chatty:
    """A scripted model whose reply is long and full of mrkdwn control characters."""

    name = "chatty"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def plan(self, request: PlanRequest) -> Plan:
        return Plan(reply=self.reply, planner=self.name)


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings=OPS)
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def test_status_and_budget_are_acked_then_answered_through_response_url(slack):
    slack.event(dm_event("expense 8 pens"))
    slack.drain()

    status, status_url = slack.command("/status")
    budget, budget_url = slack.command("/budget")
    assert (status.status_code, budget.status_code) == (200, 200)
    assert status.text == "" and budget.text == ""  # the ack; the answer follows
    slack.drain()

    [answer] = slack.fake.to(status_url)
    assert answer["response_type"] == "ephemeral"
    assert "Pending approvals: 1" in answer["text"] and "Runs in flight: 0" in answer["text"]
    [spend] = slack.fake.to(budget_url)
    assert (
        "(no cap)" in spend["text"] and "This month" in spend["text"] and "Ladder now: rules" in spend["text"]
    )


def test_commands_are_for_operators_only(slack):
    _, url = slack.command("/status", user=STRANGER)
    slack.drain()
    [answer] = slack.fake.to(url)
    assert answer["text"].startswith("Only this workspace's operators")


def test_rate_limited_post_is_retried_after_retry_after(slack):
    slack.fake.rate_limit["chat.postMessage"] = 1
    slack.event(dm_event("balance"))
    slack.drain()
    attempts = slack.fake.to("chat.postMessage")
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    [msg] = slack.posted()
    assert text_of(msg) == "Balance: $0.00."


def test_model_text_is_escaped_split_and_never_unfurled(app_factory):
    nasty = "<!channel> see <https://evil.example|your bank> & <@U0ADMIN>\n"
    reply = nasty + "\n".join(f"line {i}: " + "word " * 30 for i in range(400))  # ~62,000 characters
    app = app_factory(settings=OPS, planner=Chatty(reply))
    with fake_slack() as (fake, url), running(app, fake, url) as slack:
        slack.event(dm_event("tell me everything"))
        slack.drain()
        posts = fake.to("chat.postMessage")

    assert len(posts) >= 2  # over one message's worth, so split (the fake refuses what Slack refuses)
    assert all(p["unfurl_links"] is False and p["unfurl_media"] is False for p in posts)
    assert all(len(p["blocks"]) <= 50 and len(p["text"]) <= 40_000 for p in posts)
    shown = "\n".join(text_of(p) for p in posts)
    assert not re.search(r"<[!@#h]", shown)  # no live mention, link or broadcast survived
    assert shown.startswith(
        "&lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; &lt;@U0ADMIN&gt;"
    )
    # Nothing was lost in the split: every line arrives, in order.
    numbers = [int(n) for n in re.findall(r"line (\d+):", shown)]
    assert numbers == list(range(400))
