"""Advisory mode through the real engine: coo proposes, the operator says right, wrong or what they did; nothing runs."""

from __future__ import annotations

from sqlmodel import Session, select

from bot import commands
from bot.render import approval_card
from graph import outcomes as o
from memory import trust as store
from memory.tables import Event

CONSOLE = "console:local"
KIND = "bookkeeping.record_expense"


def say(app, text: str) -> list[o.Outcome]:
    return app.engine.submit(app.request("console", "console:local", CONSOLE, text))


def advisory(app) -> None:
    outs = app.trust.raise_card(KIND, "advisory", None, "by hand", conversation=CONSOLE, deciders=[CONSOLE], source="adv")
    [card] = [x for x in outs if isinstance(x, o.Ask)]
    assert card.action.summary == f"Put {KIND} in advisory mode?"
    app.engine.decide(card.approval_id, True, CONSOLE)
    assert store.level_of(app.db, KIND).level == "advisory"


def effects(app) -> list[Event]:
    with Session(app.db) as s:
        return list(s.exec(select(Event).where(Event.kind == "effect", Event.action == KIND)).all())


def test_an_advisory_kind_never_runs_and_its_answers_are_counted(app_factory):
    app = app_factory()
    advisory(app)

    [ask] = [x for x in say(app, "expense 40 ink") if isinstance(x, o.Ask)]
    assert ask.reason.startswith("Advisory: coo would record") and "$40.00" in ask.reason
    assert ask.reason.endswith("did you do this?")
    card = approval_card(ask)
    assert card.title == ask.reason and [b.label for b in card.buttons] == ["Right", "Wrong"]
    right = app.engine.decide(ask.approval_id, True, CONSOLE)
    assert not any(isinstance(x, o.Done | o.Failed) for x in right)
    assert any(isinstance(x, o.Say) and "coo was right" in x.text for x in right)

    [ask] = [x for x in say(app, "expense 7 taxi") if isinstance(x, o.Ask)]
    wrong = app.engine.decide(ask.approval_id, False, CONSOLE)
    assert any(isinstance(x, o.Say) and "coo was wrong" in x.text for x in wrong)

    [ask] = [x for x in say(app, "expense 10 lunch") if isinstance(x, o.Ask)]
    like = app.request("console", "console:local", CONSOLE, "")
    edited = app.engine.revise(ask.approval_id, {"amount": "12", "memo": "lunch"}, like, "run_edit_adv1")
    assert not any(isinstance(x, o.Ask | o.Done) for x in edited)  # what the operator did: recorded, not carded
    assert any(isinstance(x, o.Say) and "wrong amount" in x.text for x in edited)

    assert effects(app) == []  # coo never did any of it
    assert app.engine.pending() == []

    [text] = [r.text for r in commands.command(app, "console:local", CONSOLE, "/trust")]
    line = next(x for x in text.splitlines() if f"{KIND}:" in x)
    assert f"{KIND}: advisory · 0 approved" in line
    assert "advisory: 1 right, 2 wrong (33% agreement)" in line
    assert "disagreements: not wanted 1, wrong amount 1" in line
    assert app.trust.due_offer(KIND) is None  # an advisory kind is never offered auto by itself


def test_back_to_ask_the_kind_runs_after_approval_again(app_factory):
    app = app_factory()
    advisory(app)
    outs = app.trust.raise_card(KIND, "ask", None, "by hand", conversation=CONSOLE, deciders=[CONSOLE], source="ask")
    [card] = [x for x in outs if isinstance(x, o.Ask)]
    app.engine.decide(card.approval_id, True, CONSOLE)
    [ask] = [x for x in say(app, "expense 5 pens") if isinstance(x, o.Ask)]
    assert not ask.reason.startswith("Advisory")
    assert any(isinstance(x, o.Done) for x in app.engine.decide(ask.approval_id, True, CONSOLE))
    assert len(effects(app)) == 1


def test_the_console_takes_right_and_wrong_typed_on_an_advisory_card(app_factory):
    from bot.console import ConsoleSession, format_reply

    app = app_factory()
    advisory(app)
    chat = ConsoleSession(app)
    [card] = [r for r in chat.send("expense 40 ink") if r.card is not None]
    assert "(type right or wrong)" in format_reply(card)
    assert any("coo was right" in r.text for r in chat.send("right"))
    chat.send("expense 7 taxi")
    assert any("coo was wrong" in r.text for r in chat.send("Wrong"))
    assert effects(app) == [] and app.engine.pending() == []

    # Not an advisory card: "right" is ordinary text, never an approval.
    chat.send("/trust set bookkeeping.record_expense ask")
    for r in chat.send("approve"):
        assert "Failed" not in r.text
    [card] = [r for r in chat.send("expense 5 pens") if r.card is not None]
    assert "(type approve/a or reject/r)" in format_reply(card)
    chat.send("right")
    assert len(app.engine.pending("console:local")) == 1 and effects(app) == []


def test_an_advisory_card_says_so_itself_through_the_outbox():
    from datetime import UTC, datetime

    from agents.contract import Action
    from bot.console import format_reply
    from bot.messages import from_payload, to_payload
    from bot.render import render
    from memory.trust import ADVISORY_PREFIX

    action = Action(agent="bookkeeping", operation="record_expense", arguments={"amount_cents": 500},
                    summary="Record $5 pens", changes="the books", side_effect="reversible", reversible=True,
                    idempotency_key="k")
    when = datetime(2030, 1, 1, tzinfo=UTC)
    asked = render(o.Ask("ap_1", "run_1", action, f"{ADVISORY_PREFIX} did you record it?", when))
    plain = render(o.Ask("ap_2", "run_2", action, "bookkeeping asks", when))
    assert asked.card is not None and asked.card.advisory and plain.card is not None and not plain.card.advisory
    # The kind rides with the card (the outbox stores replies as payloads), not its buttons' labels.
    again = from_payload(to_payload(asked))
    assert again.card is not None and again.card.advisory
    assert "(type right or wrong)" in format_reply(again)
    assert "(type approve/a or reject/r)" in format_reply(from_payload(to_payload(plain)))
