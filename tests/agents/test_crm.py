"""The CRM through the console: customers, updates undone field by field, deals through the pipeline.

Runs on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.console import ConsoleSession
from memory.crm import Activity, Deal
from memory.workspace import Customer
from tests.agents.chat import done


def customer(app, customer_id: int) -> Customer:
    with Session(app.db) as s:
        c = s.get(Customer, customer_id)
        assert c is not None
        return c


def test_add_update_undo_restores_exactly_the_fields_changed(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    text = done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    assert text == "Done: Added Customer #1 Dana Smith (Acme) <dana@acme.com> [active]."

    # Given two updates, one after the other...
    done(chat, "customer 1 email dana@new.com")
    first_undo = chat.undoable[-1]
    done(chat, "customer 1 company Acme Labs")
    c = customer(app, 1)
    assert (c.email, c.company, c.name) == ("dana@new.com", "Acme Labs", "Dana Smith")

    # ...undoing the first restores only the email; the later company change stays.
    [undone] = chat.send(f"undo {first_undo}")
    assert undone.text == "Undone: Restored customer #1: email 'dana@acme.com'."
    c = customer(app, 1)
    assert (c.email, c.company, c.name) == ("dana@acme.com", "Acme Labs", "Dana Smith")
    # Undoing the second restores the company.
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Restored customer #1: company 'Acme'."
    assert customer(app, 1).company == "Acme"


def test_an_update_that_changes_nothing_restores_nothing(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    assert done(chat, "customer 1 company Acme") == "Done: Updated customer #1 Dana Smith: nothing changed."
    done(chat, "customer 1 status past")
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Restored customer #1: status 'active'."


def test_bad_input_gets_clear_words_and_changes_nothing(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    [refused] = chat.send("customer add Dana Again <not-an-email> X")
    # The validator's own sentence alone: not the schema's wording ("arguments: Value error, ...").
    assert refused.text == "not an email address: 'not-an-email'. Nothing was asked or changed."
    chat.send("customer add Dana Copy <DANA@acme.com>")
    _, failed = chat.send("approve")
    assert failed.text.endswith("customer #1 Dana Smith already has the email DANA@acme.com")
    chat.send("customer 9 email x@y.com")
    _, failed = chat.send("approve")
    assert failed.text.endswith("there is no customer #9")
    chat.send("deal Nobody 10 Thing")
    _, failed = chat.send("approve")
    assert failed.text.endswith("no customer matches 'Nobody'")
    with Session(app.db) as s:
        assert len(s.exec(select(Customer)).all()) == 1 and s.exec(select(Deal)).all() == []


def test_undo_add_customer_removes_it_or_keeps_it_past_when_referenced(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Sam Lee <sam@lee.io>")
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Removed customer #1 Sam Lee."
    with Session(app.db) as s:
        assert s.get(Customer, 1) is None

    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    add_event = chat.undoable[-1]
    with Session(app.db) as s:
        dana = s.exec(select(Customer)).one().id  # SQLite may reuse the removed id; PostgreSQL does not
    done(chat, "log call Dana: talked about the redesign")
    [undone] = chat.send(f"undo {add_event}")
    assert undone.text == (
        f"Undone: Customer #{dana} Dana Smith has deals or history, so it was kept and marked past."
    )
    assert customer(app, dana).status == "past"


def test_deal_stages_undo_and_pipeline_totals(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    done(chat, "customer add Sam Lee <sam@lee.io>")
    assert done(chat, "deal Dana 4000 Website redesign") == (
        "Done: Added deal #1 Website redesign for Dana Smith: $4,000.00, lead."
    )
    done(chat, "deal sam@lee.io 1,250.50 Logo")
    done(chat, "deal 2 350 Hosting")  # by customer number
    assert done(chat, "deal 1 proposal") == "Done: Deal #1 Website redesign: lead → proposal."
    done(chat, "deal 2 won")
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Deal #2 Logo: back from won to lead."

    [pipe] = chat.send("pipeline")
    assert pipe.text == "\n".join(
        [
            "Pipeline:",
            "lead: 2 deal(s), $1,600.50",
            "  #2 Logo $1,250.50",
            "  #3 Hosting $350.00",
            "qualified: 0 deal(s), $0.00",
            "proposal: 1 deal(s), $4,000.00",
            "  #1 Website redesign $4,000.00",
            "won: 0 deal(s), $0.00",
            "lost: 0 deal(s), $0.00",
            "Open pipeline: $5,600.50",
        ]
    )
    # Deal 1 kept its move; deal 2 went back to lead.
    with Session(app.db) as s:
        assert [d.stage for d in s.exec(select(Deal).order_by(Deal.id)).all()] == ["proposal", "lead", "lead"]


def test_ambiguous_customer_asks_for_the_number(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com>")
    done(chat, "customer add Dana Lee <dana@lee.io>")
    chat.send("deal Dana 100 Audit")
    _, failed = chat.send("approve")
    assert failed.text.endswith("several customers match 'Dana' (#1 Dana Smith, #2 Dana Lee); use the number")
    assert done(chat, "deal Dana Lee 100 Audit").endswith("for Dana Lee: $100.00, lead.")


def test_activity_is_logged_shown_and_undone(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    assert (
        done(chat, "log note Dana Smith: prefers email")
        == "Done: Logged note #1 with Dana Smith: prefers email"
    )
    [shown] = chat.send("customer 1")
    assert shown.text.splitlines()[0] == "Customer #1 Dana Smith (Acme) <dana@acme.com> [active]"
    assert shown.text.splitlines()[1].endswith(" note: prefers email")
    [undone] = chat.send("undo")
    assert undone.text == "Undone: Removed activity #1."
    with Session(app.db) as s:
        assert s.exec(select(Activity)).all() == []
    [listed] = chat.send("customers")
    assert listed.text == "Customers:\nCustomer #1 Dana Smith (Acme) <dana@acme.com> [active]"


def test_every_write_records_the_agents_prompt_version(app_factory):
    from agents import crm, drafts
    from memory.tables import Event

    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "customer add Dana Smith <dana@acme.com> Acme")
    done(chat, "draft email dana@acme.com Hello: Hi")
    with Session(app.db) as s:
        effects = s.exec(select(Event).where(Event.kind == "effect").order_by(Event.seq)).all()
    assert [(e.action, e.payload["prompt_version"]) for e in effects] == [
        ("crm.add_customer", crm.PROMPT_VERSION),
        ("drafts.create_draft", drafts.PROMPT_VERSION),
    ]
    assert "lead → qualified → proposal → won/lost" in crm.PROMPT
    assert "an email or a\nreply needs a recipient address" in drafts.PROMPT
