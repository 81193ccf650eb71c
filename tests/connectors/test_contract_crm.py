"""The connector contract for the CRM and drafts: every write is keyed (the same idempotency key twice
gives one effect) and reversible (its compensation restores the prior state exactly); sending a draft
is irreversible, and its undo is refused plainly once the window has closed. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, SQLModel, select

from agents.contract import SideEffect
from agents.errors import NotReversible
from memory.crm import Activity, Deal
from memory.job_tables import Job
from memory.workspace import Customer, Draft

TABLES: list[type[SQLModel]] = [Customer, Deal, Activity, Draft]
SEED = [
    ("crm.add_customer", {"name": "Dana Smith", "email": "dana@acme.com", "company": "Acme"}),
    ("crm.add_deal", {"customer": "1", "title": "Website redesign", "value": "4000"}),
    ("drafts.create_draft", {"kind": "email", "to": "dana@acme.com", "subject": "Hello", "body": "Hi"}),
]
WRITES = [
    ("crm.add_customer", {"name": "Sam Lee", "email": "sam@lee.io"}),
    ("crm.update_customer", {"customer_id": 1, "email": "dana@new.com", "notes": "moved"}),
    ("crm.add_deal", {"customer": "Dana", "title": "Logo", "value": "250"}),
    ("crm.move_deal", {"deal_id": 1, "stage": "won"}),
    ("crm.log_activity", {"customer": "dana@acme.com", "kind": "call", "text": "pricing"}),
    ("drafts.create_draft", {"kind": "post", "subject": "Launch", "body": "We shipped."}),
    ("drafts.edit_draft", {"draft_id": 1, "to": "sam@lee.io", "body": "Hello again"}),
]


def snapshot(app) -> dict[str, list[dict[str, Any]]]:
    """Return every CRM and draft row, without the times an update stamps."""
    with Session(app.db) as s:
        return {
            t.__tablename__: [  # type: ignore[attr-defined]
                r.model_dump(exclude={"updated_at"})
                for r in s.exec(select(t).order_by(t.id)).all()  # type: ignore[attr-defined]
            ]
            for t in TABLES
        }


def run(app, key: str, args: dict[str, Any], run_id: str, index: int = 0):
    action = app.registry.propose(key, args, run_id=run_id, index=index)
    return action, app.engine.executor.execute(action, run_id=run_id, conversation="c", actor="console:local")


@pytest.fixture
def seeded(app_factory):
    app = app_factory()
    for i, (key, args) in enumerate(SEED):
        _, result = run(app, key, args, "seed", i)
        assert result.ok, result.text
    return app


@pytest.mark.parametrize(("key", "args"), WRITES, ids=[k for k, _ in WRITES])
def test_same_key_twice_is_one_effect(seeded, key, args):
    app = seeded
    assert app.registry.get(key).side_effect is SideEffect.REVERSIBLE
    action, first = run(app, key, args, "r1")
    after_first = snapshot(app)
    calls = app.engine.executor.effect_calls
    again = app.engine.executor.execute(action, run_id="r1", conversation="c", actor="console:local")
    assert first.ok and again.duplicate and again.event_id == first.event_id
    assert app.engine.executor.effect_calls == calls  # the operation did not run again
    assert snapshot(app) == after_first


@pytest.mark.parametrize(("key", "args"), WRITES, ids=[k for k, _ in WRITES])
def test_compensation_restores_the_prior_state(seeded, key, args):
    app = seeded
    before = snapshot(app)
    _, result = run(app, key, args, "r2")
    assert result.ok and result.reversible, result.text
    assert snapshot(app) != before
    app.engine.executor.undo(result.event_id, run_id="u", actor="console:local")
    after = snapshot(app)
    if key == "drafts.create_draft":  # a discarded draft is kept, marked so
        [made] = [d for d in after["draft"] if d not in before["draft"]]
        assert made["status"] == "discarded"
        after["draft"].remove(made)
    assert after == before


def test_sending_a_draft_is_irreversible_and_undo_after_the_window_is_refused(app_factory):
    settings = {"smtp_url": "smtp://127.0.0.1:1", "coo_email_from": "coo@example.com", "coo_undo_window_s": 0}
    app = app_factory(settings=settings)
    _, made = run(app, *SEED[2], "seed")
    assert made.ok
    with Session(app.db) as s:
        key, args = app.registry.expand("drafts.send_draft", {"draft_id": 1}, s)
    assert (key, args) == (
        "outreach.send_email",
        {"to": "dana@acme.com", "subject": "Hello", "body": "Hi", "draft_id": 1},
    )
    assert app.registry.get(key).side_effect is SideEffect.IRREVERSIBLE
    action, sent = run(app, key, args, "s1")
    again = app.engine.executor.execute(action, run_id="s1", conversation="c", actor="console:local")
    assert again.duplicate and again.event_id == sent.event_id
    with Session(app.db) as s:
        assert len(s.exec(select(Job)).all()) == 1  # one send scheduled
    with pytest.raises(NotReversible, match=r"^Too late: the undo window closed at .*is being sent\.$"):
        app.engine.executor.undo(sent.event_id, run_id="u", actor="console:local")
