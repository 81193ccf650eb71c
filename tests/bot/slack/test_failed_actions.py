"""Scenario: an approved action that fails is shown failed, and its Retry button runs it again, once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlmodel import Session, select

from memory import ledger
from memory.tables import Run
from tests.bot.slack.harness import OPS, buttons, dm_event, fake_slack, running, text_of


def _say(slack, text: str) -> dict:
    slack.event(dm_event(text))
    slack.drain()
    return slack.posted()[-1]


def _click(slack, action: str, message: dict) -> dict:
    slack.click(action, buttons(message)[action], message=message)
    slack.drain()
    return slack.posted()[-1]


def test_a_failed_payment_is_failed_and_retried_once_through_slack(app_factory):
    app = app_factory(settings=OPS)
    number = f"INV-{datetime.now(UTC).year}-0001"
    with fake_slack() as (fake, url), running(app, fake, url) as slack:
        _click(slack, "approve", _say(slack, "invoice Acme 800 website"))
        # Given two cards for the same payment, both approved: the second fails, with a Retry button.
        first, second = _say(slack, f"paid {number}"), _say(slack, f"paid {number}")
        paid = _click(slack, "approve", first)
        assert text_of(paid).startswith(f"Done: Marked {number} paid") and "undo" in buttons(paid)
        failed = _click(slack, "approve", second)
        assert text_of(failed) == f"Could not mark {number} paid: {number} is already paid, not open"
        run_id = buttons(failed)["retry"]
        with Session(app.db) as s:
            assert s.get(Run, run_id).status == "failed"
        # When the first payment is undone and Retry is clicked twice at once,
        _click(slack, "undo", paid)
        fake.reset()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: slack.click("retry", run_id, message=failed), range(2)))
        slack.drain()
        # the payment is made once, and the second click is told so, privately.
        texts = [text_of(m) for m in slack.posted()]  # the first payment's message now says "Undone: …"
        assert sum(t.startswith(f"Done: Marked {number} paid") for t in texts) == 1, texts
        [notice] = fake.to("chat.postEphemeral")
        assert notice["text"] == f"Run {run_id} was already retried."
        with Session(app.db) as s:
            assert s.get(Run, run_id).status == "done"
            assert ledger.account_balance(s, ledger.CASH) == 800_00
            assert (
                len(s.exec(select(ledger.JournalLine).where(ledger.JournalLine.account == ledger.CASH)).all())
                == 3
            )


def test_retry_from_another_conversation_is_refused(app_factory):
    app = app_factory(settings=OPS)
    number = f"INV-{datetime.now(UTC).year}-0001"
    with fake_slack() as (fake, url), running(app, fake, url) as slack:
        _click(slack, "approve", _say(slack, "invoice Acme 800 website"))
        first, second = _say(slack, f"paid {number}"), _say(slack, f"paid {number}")
        paid = _click(slack, "approve", first)
        failed = _click(slack, "approve", second)
        run_id = buttons(failed)["retry"]
        _click(slack, "undo", paid)  # the retry could now succeed, if it were allowed
        fake.reset()
        # When: its Retry is clicked from another channel
        slack.click("retry", run_id, message={**failed, "channel": "D9"})
        slack.drain()
        # Then: refused privately there, and nothing ran
        told = [m for m in fake.to("chat.postEphemeral") if m.get("channel") == "D9"]
        assert told and "another conversation" in told[-1]["text"]
        assert not fake.to("chat.postMessage")
        with Session(app.db) as s:
            assert s.get(Run, run_id).status == "failed"
