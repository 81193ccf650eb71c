"""Scenario: approval cards — who may click, double clicks, stale cards, a restart between card and click."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, func, select

from memory.tables import Approval, LedgerEntry
from tests.bot.slack.harness import OPERATOR, OPS, STRANGER, buttons, dm_event, fake_slack, running, text_of


@pytest.fixture
def slack(app_factory):
    app = app_factory(settings=OPS)
    with fake_slack() as (fake, url), running(app, fake, url) as s:
        yield s


def ledger_rows(app) -> int:
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


def card_for(slack, text: str) -> dict:
    slack.event(dm_event(text))
    slack.drain()
    card = slack.posted()[-1]
    assert "approve" in buttons(card)
    return card


def test_non_operator_click_is_refused_privately_and_changes_nothing(slack):
    card = card_for(slack, "expense 20 taxi")
    ap = buttons(card)["approve"]
    slack.fake.reset()

    assert slack.click("approve", ap, message=card, user=STRANGER).status_code == 200
    slack.drain()

    [refusal] = slack.fake.to("chat.postEphemeral")
    assert refusal["user"] == STRANGER and refusal["channel"] == "D111"
    assert "Only this workspace's operators" in refusal["text"]
    assert slack.fake.to("chat.update") == [] and slack.fake.to("chat.postMessage") == []
    with Session(slack.app.db) as s:
        assert s.get(Approval, ap).status == "pending"
    assert ledger_rows(slack.app) == 0


def test_double_approve_acts_once_and_tells_the_second_click(slack):
    card = card_for(slack, "expense 30 train")
    ap = buttons(card)["approve"]
    slack.fake.reset()

    # Two clicks land at once (a double click, or two browser tabs)
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda _: slack.click("approve", ap, message=card).status_code, range(2)))
    assert codes == [200, 200]
    slack.drain()

    assert ledger_rows(slack.app) == 1
    assert len(slack.fake.to("chat.update")) == 1
    done = [m for m in slack.fake.to("chat.postMessage") if text_of(m).startswith("Done:")]
    assert len(done) == 1
    [notice] = slack.fake.to("chat.postEphemeral")
    assert notice["text"].startswith(f"Already approved by slack:{OPERATOR}")


def test_reject_then_approve_on_the_stale_card(slack):
    card = card_for(slack, "expense 40 hotel")
    ap = buttons(card)["reject"]
    slack.click("reject", ap, message=card)
    slack.drain()
    update = slack.fake.to("chat.update")[-1]
    assert text_of(update).startswith(f"Rejected by slack:{OPERATOR}") and not buttons(update)
    assert "nothing was changed" in text_of(slack.posted()[-1])

    slack.fake.reset()
    slack.click("approve", ap, message=card)  # a client still showing the old buttons
    slack.drain()
    [notice] = slack.fake.to("chat.postEphemeral")
    assert notice["text"].startswith("Already rejected")
    assert ledger_rows(slack.app) == 0 and slack.fake.to("chat.update") == []


def test_card_from_another_installation_gets_a_clear_message(slack):
    card = card_for(slack, "expense 1 gum")
    slack.fake.reset()
    slack.click("approve", "ap_000000000000000000000000", message=card)
    slack.drain()
    [notice] = slack.fake.to("chat.postEphemeral")
    assert "does not exist" in notice["text"]
    assert ledger_rows(slack.app) == 0


def test_restart_between_card_and_click(app_factory):
    first = app_factory(settings=OPS)
    with fake_slack() as (fake, url):
        with running(first, fake, url) as slack:
            card = card_for(slack, "expense 55 monitor")
        first.close()

        # A new process on the same data: the old card's buttons still work, once.
        second = app_factory(settings=OPS)
        with running(second, fake, url) as slack:
            fake.reset()
            slack.click("approve", buttons(card)["approve"], message=card)
            slack.click("approve", buttons(card)["approve"], message=card)
            slack.drain()
            [update] = fake.to("chat.update")
            assert update["ts"] == card["ts"] and text_of(update).startswith("Approved by")
            assert ledger_rows(second) == 1
            assert len([m for m in fake.to("chat.postMessage") if text_of(m).startswith("Done:")]) == 1
            assert fake.to("chat.postEphemeral")[0]["text"].startswith("Already approved")


def test_card_deleted_in_slack_gets_its_decision_posted_in_the_thread(slack):
    card = card_for(slack, "expense 12 lamp")
    del slack.fake.messages[(card["channel"], card["ts"])]  # someone deleted the card
    slack.fake.reset()
    slack.click("approve", buttons(card)["approve"], message=card)
    slack.drain()
    [failed_update] = slack.fake.to("chat.update")
    assert failed_update["ts"] == card["ts"]
    decided, done = slack.fake.to("chat.postMessage")
    assert decided["thread_ts"] == card["thread_ts"] and text_of(decided).startswith("Approved by")
    assert text_of(done).startswith("Done:") and ledger_rows(slack.app) == 1


class FailsOnce:
    """A scripted model that fails its first call (a timeout, say) and then answers."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def plan(self, request):
        from graph.planner import Plan

        self.calls += 1
        if self.calls == 1:
            raise TimeoutError("model timed out")
        return Plan(reply=f"answered {request.text!r}", planner=self.name)


def test_failed_run_offers_retry_which_runs_it_again(app_factory):
    app = app_factory(settings=OPS, planner=FailsOnce())
    with fake_slack() as (fake, url), running(app, fake, url) as slack:
        slack.event(dm_event("what is due this week?"))
        slack.drain()
        [failed] = slack.posted()
        assert "failed (TimeoutError)" in text_of(failed) and "retry" in buttons(failed)
        # A double click on Retry runs it again once; the second click is told so, privately.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: slack.click("retry", buttons(failed)["retry"], message=failed), range(2)))
        slack.drain()
        again = slack.posted()[-1]
        assert again["thread_ts"] == failed["thread_ts"]
        assert text_of(again) == "answered 'what is due this week?'"
        assert len(slack.posted()) == 2
        [notice] = fake.to("chat.postEphemeral")
        assert notice["text"].endswith("was already retried.")
