"""The CRM's and drafts' contract cases: every write is keyed and reversible (SQL workspace)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlmodel import Session, SQLModel, select

from agents.contract import SideEffect
from graph.errors import AlreadyDone
from memory.crm import Activity, Deal
from memory.workspace import Customer, Draft
from tests.connectors.contract_cases import Case

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


def seeded(request: pytest.FixtureRequest):
    app = request.getfixturevalue("app_factory")()
    for i, (key, args) in enumerate(SEED):
        _, result = run(app, key, args, "seed", i)
        assert result.ok, result.text
    return app


def replay(key: str, args: dict[str, Any], request: pytest.FixtureRequest) -> None:
    app = seeded(request)
    assert app.registry.get(key).side_effect is SideEffect.REVERSIBLE
    action, first = run(app, key, args, "r1")
    after_first = snapshot(app)
    calls = app.engine.executor.effect_calls
    again = app.engine.executor.execute(action, run_id="r1", conversation="c", actor="console:local")
    assert first.ok and again.duplicate and again.event_id == first.event_id
    assert app.engine.executor.effect_calls == calls  # the operation did not run again
    assert snapshot(app) == after_first


def restore(key: str, args: dict[str, Any], request: pytest.FixtureRequest) -> tuple[Any, Any]:
    app = seeded(request)
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
    return app, result


def twice(key: str, args: dict[str, Any], request: pytest.FixtureRequest) -> None:
    app, result = restore(key, args, request)
    undone = snapshot(app)
    with pytest.raises(AlreadyDone):
        app.engine.executor.undo(result.event_id, run_id="u2", actor="console:local")
    assert snapshot(app) == undone


CASES = [
    Case(key, partial(replay, key, args), partial(restore, key, args), partial(twice, key, args))
    for key, args in WRITES
]
