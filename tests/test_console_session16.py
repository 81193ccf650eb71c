"""The console session of issue 16 (failures, checks before the card, several cards, help, recall), replayed."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from bot.console import run_console


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_scripted_session_gets_the_answers_a_new_user_should(app_factory):
    app = app_factory()
    y = datetime.now(UTC).year
    script = [
        "remember Priya prefers morning calls",
        "a",
        "invoice Acme 500 logo",
        "a",
        "invoice Globex 800 website",
        "a",
        "draft email dana@example.org Invoice: attached",
        "a",
        "send draft 1",
        f"paid INV-{y}-0099",
        f"paid INV-{y}-0002 500",
        "expense 40 train",
        "expense 12 lunch",
        "approve",
        "a 2",
        "approve",
        "recall Priya",
        "research competitor pricing",
        "help",
        "quit",
        "balance",
    ]
    out = io.StringIO()
    assert run_console(app, io.StringIO("\n".join(script) + "\n"), out) == 0
    text = out.getvalue()
    # Checks before the card: each is refused with its reason, and no card is shown for it.
    assert (
        "> send draft 1\nCannot send an email to dana@example.org: 'Invoice' (draft #1): email is not set up"
        in text
    )
    assert f"> paid INV-{y}-0099\nCannot mark INV-{y}-0099 paid: there is no invoice INV-{y}-0099" in text
    assert (
        f"> paid INV-{y}-0002 500\nCannot mark INV-{y}-0002 paid ($500.00): INV-{y}-0002 is for $800.00"
        in text
    )
    # Two cards waiting: `approve` asks which one; `a 2` takes the second; `approve` then the one left.
    asked = text.split("> expense 12 lunch", 1)[1].split("> approve\n", 1)[1].split("\n> ", 1)[0].splitlines()
    assert asked[0] == "2 cards are waiting; which one?"
    assert asked[1].startswith("  1. ") and "$40.00" in asked[1] and "train" in asked[1]
    assert asked[2].startswith("  2. ") and "$12.00" in asked[2] and "lunch" in asked[2]
    assert asked[3] == "Type `approve N` or `reject N` (`a N`, `r N`)."
    assert (
        "> a 2\nApproved by console:local" in text and "Done: Recorded expense #" in text.split("> a 2", 1)[1]
    )
    after = text.split("> a 2", 1)[1].split("> recall", 1)[0]
    assert (
        "$12.00 lunch" in after.split("> approve", 1)[0] and "$40.00 train" in after.split("> approve", 1)[1]
    )
    # Recall answers with the note alone; research without a URL says what it can do.
    recall = text.split("> recall Priya\n", 1)[1].split("\n> ", 1)[0]
    assert recall == "Remembered about 'Priya':\n#1 [note] Priya prefers morning calls"
    assert "> research competitor pricing\nI can read pages you give me, not search the web" in text
    # Help lists every command, and `quit` leaves (the line after it is never answered).
    for word in ("forget <id>", "pending", "retry", "quit", "approve [N] / reject [N]"):
        assert word in text.split("> help", 1)[1]
    assert "> balance" not in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reject_by_number_and_a_number_that_is_not_a_card(app_factory):
    from bot.console import ConsoleSession

    chat = ConsoleSession(app_factory())
    chat.send("expense 40 train")
    chat.send("expense 12 lunch")
    [rejected, not_done] = chat.send("r 2")
    assert rejected.text.startswith("Rejected by console:local") and "lunch" in rejected.text
    assert not_done.text == "Not done (rejected); nothing was changed."
    [nope] = chat.send("approve 5")
    assert nope.text.startswith("There is no card 5. 1 card is waiting:\n  1. ") and "train" in nope.text
    [listed] = chat.send("pending")
    assert "train" in (listed.card.title if listed.card else listed.text)
    _, done = chat.send("a")
    assert done.text.startswith("Done: Recorded expense #1: $40.00 train")
    assert chat.send("reject")[0].text == "There is nothing waiting for approval."
