"""Helpers for the bookkeeping tests: a schema'd engine and operations run in their own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.catalog import default_registry
from agents.contract import ExecContext, Outcome
from memory import ledger
from memory.db import make_engine, transaction
from memory.invoices import Invoice

REGISTRY = default_registry()


@contextmanager
def books_engine(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    """Yield an engine on SQLite under tmp_path or on the given PostgreSQL database, schema installed."""
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'books.sqlite'}")
    try:
        yield engine
    finally:
        engine.dispose()


def run(engine: Engine, name: str, args: dict[str, Any], key: str | None = None) -> Outcome:
    """Execute one operation (``bookkeeping.<name>``) in its own transaction, as the executor does."""
    op = REGISTRY.get(f"bookkeeping.{name}")
    with transaction(engine) as s:
        return op.execute(
            ExecContext(s, "run_t", "test", key or uuid.uuid4().hex), op.args.model_validate(args)
        )


def undo(engine: Engine, name: str, compensation: dict[str, Any], key: str | None = None) -> Outcome:
    """Run an operation's compensation in its own transaction."""
    op = REGISTRY.get(f"bookkeeping.{name}")
    assert op.compensate is not None
    with transaction(engine) as s:
        return op.compensate(ExecContext(s, "run_t", "test", key or f"undo:{uuid.uuid4().hex}"), compensation)


def state(engine: Engine) -> dict[str, Any]:
    """Return what a test compares: Cash, receivables, revenue, invoice statuses, and ledger problems."""
    with Session(engine) as s:
        return {
            "cash": ledger.account_balance(s, ledger.CASH),
            "ar": ledger.account_balance(s, ledger.AR),
            "revenue": -ledger.account_balance(s, ledger.REVENUE),
            "invoices": {i.number: i.status for i in s.exec(select(Invoice)).all()},
            "problems": ledger.verify_ledger(s),
        }
