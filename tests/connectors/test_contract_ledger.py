"""The connector contract for the ledger: side-effect classes, one effect per key, compensation restores."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from agents.contract import SideEffect
from agents.errors import NotReversible
from memory.invoices import Invoice
from memory.tables import LedgerEntry
from tests.agents.books import REGISTRY, books_engine, run, state, undo

WRITES: dict[str, dict[str, Any]] = {
    "record_expense": {"amount": "12.50", "memo": "coffee"},
    "record_income": {"amount": "40", "memo": "tip"},
    "create_invoice": {"customer": "Acme", "amount": "300", "memo": "audit"},
    "mark_paid": {},  # filled with a fresh invoice's number
}


def test_every_ledger_operation_declares_its_side_effect_class():
    ops = {op.name: op for op in REGISTRY.offered() if op.agent == "bookkeeping"}
    assert {n: ops[n].side_effect for n in ops} == {
        "record_expense": SideEffect.REVERSIBLE,
        "record_income": SideEffect.REVERSIBLE,
        "create_invoice": SideEffect.REVERSIBLE,
        "mark_paid": SideEffect.REVERSIBLE,
        "balance": SideEffect.READ,
        "list_invoices": SideEffect.READ,
        "summary": SideEffect.READ,
    }
    assert all(ops[n].compensate is not None for n in WRITES)


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


@pytest.mark.parametrize("name", list(WRITES))
def test_same_idempotency_key_twice_is_one_effect(tmp_path, database_url, name):
    with books_engine(tmp_path, database_url) as engine:
        args = _args(engine, name)
        before = _counts(engine)
        first = run(engine, name, args, key="the-key")
        second = run(engine, name, args, key="the-key")
        assert first.payload == second.payload and first.text == second.text
        entries, invoices = _counts(engine)
        assert entries == before[0] + 1
        assert invoices == before[1] + (name == "create_invoice")
        assert state(engine)["problems"] == []


@pytest.mark.parametrize("name", list(WRITES))
def test_compensation_restores_the_prior_state(tmp_path, database_url, name):
    with books_engine(tmp_path, database_url) as engine:
        args = _args(engine, name)
        before = state(engine)
        out = run(engine, name, args)
        assert state(engine) != before
        undo(engine, name, out.compensation or {})
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


def test_compensation_of_a_paid_invoice_is_refused_clearly(tmp_path):
    with books_engine(tmp_path, None) as engine:
        inv = run(engine, "create_invoice", WRITES["create_invoice"])
        run(engine, "mark_paid", {"number": inv.payload["number"]})
        before = state(engine)
        with pytest.raises(NotReversible, match=r"is paid: undo the payment first"):
            undo(engine, "create_invoice", inv.compensation or {})
        assert state(engine) == before
