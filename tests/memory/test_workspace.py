"""Workspace tables and their read tools, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from agents.catalog import default_registry
from agents.contract import ExecContext
from memory import workspace
from memory.db import transaction
from memory.tables import LedgerEntry
from memory.workspace import Customer, Draft, Project, Ticket


def seed(db) -> None:
    with transaction(db) as s:
        dana = Customer(name="Dana Smith", company="Acme", email="dana@acme.example", notes="pays late")
        s.add(dana)
        s.add(Customer(name="Priya Patel", company="Globex", email="priya@globex.example"))
        s.flush()
        s.add(Project(customer_id=dana.id, name="Acme website redesign", due=date(2026, 12, 1)))
        s.add(Draft(customer_id=dana.id, subject="Acme proposal follow-up", body="Hi Dana"))
        s.add(Ticket(customer_id=dana.id, subject="Acme login broken", source="email:dana@acme.example"))
        s.add(LedgerEntry(kind="income", amount_cents=90000, memo="Acme invoice 7", idempotency_key="k1"))


def test_search_finds_rows_across_tables(db):
    seed(db)
    with Session(db) as s:
        rows = workspace.search(s, "Acme", limit=10)
        assert {r.ref for r in rows} == {"customer:1", "project:1", "draft:1", "ticket:1", "ledger:1"}
        assert next(r for r in rows if r.ref == "ticket:1").trusted is False  # came in by email
        [best] = workspace.search(s, "Priya at Globex", limit=1)
        assert best.ref == "customer:2"
        assert workspace.search(s, "the of and", limit=5) == []


def test_read_tools(db):
    seed(db)
    reg = default_registry()
    with Session(db) as s:
        ctx = ExecContext(s, "run_1", "console:local", "k")
        op = reg.get("workspace.find_customer")
        out = op.execute(ctx, op.args(query="dana"))
        assert (
            out.text
            == "Customers matching 'dana':\nCustomer #1 Dana Smith (Acme) <dana@acme.example> [active]: pays late"
        )
        op = reg.get("workspace.search")
        out = op.execute(ctx, op.args(query="redesign"))
        assert out.payload == {"rows": ["project:1"]}
        assert "Project #1 Acme website redesign [open] due 2026-12-01" in out.text
