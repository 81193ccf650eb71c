"""The ledger's contract cases: ``bookkeeping.*`` writes, run as the executor runs them."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlmodel import Session, func, select

from memory.invoices import Invoice
from memory.tables import LedgerEntry
from tests.agents.books import books_engine, run, state, undo
from tests.connectors.contract_cases import Case

WRITES: dict[str, dict[str, Any]] = {
    "record_expense": {"amount": "12.50", "memo": "coffee"},
    "record_income": {"amount": "40", "memo": "tip"},
    "create_invoice": {"customer": "Acme", "amount": "300", "memo": "audit"},
    "mark_paid": {},  # filled with a fresh invoice's number
}


def _args(engine, name: str) -> dict[str, Any]:
    if name != "mark_paid":
        return WRITES[name]
    return {"number": run(engine, "create_invoice", {"customer": "Beta", "amount": "75"}).payload["number"]}


def _counts(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(LedgerEntry)).one(),
            s.exec(select(func.count()).select_from(Invoice)).one(),
        )


def _engine(request: pytest.FixtureRequest):
    return books_engine(request.getfixturevalue("tmp_path"), request.getfixturevalue("database_url"))


def replay(name: str, request: pytest.FixtureRequest) -> None:
    with _engine(request) as engine:
        args = _args(engine, name)
        before = _counts(engine)
        first = run(engine, name, args, key="the-key")
        second = run(engine, name, args, key="the-key")
        assert first.payload == second.payload and first.text == second.text
        entries, invoices = _counts(engine)
        assert entries == before[0] + 1
        assert invoices == before[1] + (name == "create_invoice")
        assert state(engine)["problems"] == []


def _restored(engine, name: str, undo_key: str | None = None) -> Any:
    args = _args(engine, name)
    before = state(engine)
    out = run(engine, name, args)
    assert state(engine) != before
    undo(engine, name, out.compensation or {}, key=undo_key)
    after = state(engine)
    if name == "create_invoice":  # the invoice stays, void, keeping its number
        voided = {k: v for k, v in after["invoices"].items() if k not in before["invoices"]}
        assert list(voided.values()) == ["void"]
        after["invoices"] = before["invoices"]
    assert after == before
    # The original entry stays and a reversal points at it.
    with Session(engine) as s:
        rev = s.exec(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()  # type: ignore[union-attr]
        assert rev is not None and rev.kind == "reversal" and rev.reverses is not None
    return out


def restore(name: str, request: pytest.FixtureRequest) -> None:
    with _engine(request) as engine:
        _restored(engine, name)


def twice(name: str, request: pytest.FixtureRequest) -> None:
    with _engine(request) as engine:
        # The executor refuses a second Undo from its event log; a redelivered compensation (its key
        # again) reverses nothing more.
        out = _restored(engine, name, undo_key="undo:the-key")
        undone, counts = state(engine), _counts(engine)
        undo(engine, name, out.compensation or {}, key="undo:the-key")
        assert (state(engine), _counts(engine)) == (undone, counts)


CASES = [
    Case(f"bookkeeping.{name}", partial(replay, name), partial(restore, name), partial(twice, name))
    for name in WRITES
]
