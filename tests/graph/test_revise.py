"""Engine.revise: an edited card is validated and policed again; the old approval closes once."""

from __future__ import annotations

from bot.console import ConsoleSession
from graph import outcomes as o

CONSOLE = "console:local"


def ask(app, text: str) -> o.Ask:
    chat = ConsoleSession(app)
    chat.send(text)
    [pending] = app.engine.pending()
    return pending


def like(app):
    return app.request("console", "console:local", CONSOLE, "")


def test_revise_replaces_the_approval_with_a_new_card(app_factory):
    app = app_factory()
    old = ask(app, "expense 10 lunch")
    outs = app.engine.revise(
        old.approval_id, {"amount": "11", "memo": "lunch + tip"}, like(app), "run_edit_1"
    )
    decided, new = outs
    assert isinstance(decided, o.Decided) and decided.decision == "edited" and decided.by == CONSOLE
    assert isinstance(new, o.Ask) and new.action.arguments == {"amount": "11.00", "memo": "lunch + tip"}
    assert [p.approval_id for p in app.engine.pending()] == [new.approval_id]
    # Revising the closed approval again changes nothing.
    [again] = app.engine.revise(old.approval_id, {"amount": "12", "memo": "x"}, like(app), "run_edit_2")
    assert isinstance(again, o.Say) and again.text.startswith("Nothing was changed: Already rejected")


def test_invalid_or_unauthorised_revisions_change_nothing(app_factory):
    app = app_factory()
    old = ask(app, "expense 10 lunch")
    [bad] = app.engine.revise(old.approval_id, {"amount": "lots"}, like(app))
    assert isinstance(bad, o.Say) and "invalid arguments" in bad.text
    stranger = app.request("console", "console:local", "slack:U666", "")
    [refused] = app.engine.revise(old.approval_id, {"amount": "1", "memo": ""}, stranger)
    assert isinstance(refused, o.Say) and "not allowed" in refused.text
    assert [p.approval_id for p in app.engine.pending()] == [old.approval_id]


def test_revised_run_survives_a_restart(app_factory):
    first = app_factory()
    old = ask(first, "expense 10 lunch")
    [_, new] = first.engine.revise(
        old.approval_id, {"amount": "20", "memo": "team lunch"}, like(first), "run_e"
    )
    first.close()
    second = app_factory()
    outs = second.engine.decide(new.approval_id, True, CONSOLE)
    assert any(isinstance(x, o.Done) and "$20.00 team lunch" in x.text for x in outs)
