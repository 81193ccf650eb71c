"""The CRM's own tables (deals through a fixed pipeline, contact activity) and its read helpers.

Customers live in ``memory.workspace``; a deal and an activity always belong to one. Values are
integer cents. Every change goes through an operation of ``agents.crm``, so it is approved and logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Text, func
from sqlmodel import Field, Session, SQLModel, col, select

from memory.tables import utcnow
from memory.workspace import Customer, Draft, Project, Ticket

STAGES = ("lead", "qualified", "proposal", "won", "lost")
"""The pipeline, in order; ``won`` and ``lost`` close a deal."""
OPEN_STAGES = STAGES[:3]
ACTIVITY_KINDS = ("email", "call", "note", "deal")


class Deal(SQLModel, table=True):
    """A sale being worked on, at one stage of the pipeline."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    title: str = Field(max_length=300)
    value_cents: int = 0
    stage: str = Field(default="lead", index=True, max_length=16)  # one of STAGES
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Activity(SQLModel, table=True):
    """Something that happened with a customer: an email sent, a call, a note, a deal event.

    ``source`` says who wrote it: ``operator``, ``outreach`` (the send job), or ``untrusted:<run>``.
    """

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deal.id", index=True)
    kind: str = Field(max_length=16)  # one of ACTIVITY_KINDS
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: str = Field(default="operator", max_length=300)
    at: datetime = Field(default_factory=utcnow, index=True)
    idempotency_key: str = Field(unique=True, max_length=200)


def customer_by_email(session: Session, email: str) -> Customer | None:
    """Return the customer with this email address (case-insensitive), or None."""
    address = email.strip().lower()
    if not address:
        return None
    return session.exec(
        select(Customer).where(func.lower(Customer.email) == address).order_by(col(Customer.id))
    ).first()


def is_known_contact(session: Session, email: str) -> bool:
    """Tell whether an email address belongs to one of the operator's customers."""
    return customer_by_email(session, email) is not None


def is_referenced(session: Session, customer_id: int) -> bool:
    """Tell whether anything (a deal, an activity, a project, a draft, a ticket) points at a customer."""
    for table in (Deal, Activity, Project, Draft, Ticket):
        ref = table.customer_id  # type: ignore[attr-defined]
        if session.exec(select(table).where(ref == customer_id).limit(1)).first() is not None:
            return True
    return False


def list_customers(session: Session, limit: int = 50) -> list[Customer]:
    """Return customers, newest first."""
    return list(session.exec(select(Customer).order_by(col(Customer.id).desc()).limit(limit)).all())


@dataclass(frozen=True)
class StageTotal:
    """One stage of the pipeline: its deals and their total value."""

    stage: str
    deals: list[Deal]

    @property
    def total_cents(self) -> int:
        """Return the sum of the deals' values."""
        return sum(d.value_cents for d in self.deals)


def pipeline(session: Session) -> list[StageTotal]:
    """Return every stage, in pipeline order, with its deals (oldest first) and total."""
    deals = session.exec(select(Deal).order_by(col(Deal.id))).all()
    return [StageTotal(stage, [d for d in deals if d.stage == stage]) for stage in STAGES]


def activities(session: Session, customer_id: int, limit: int = 20) -> list[Activity]:
    """Return a customer's activity, newest first."""
    rows = select(Activity).where(Activity.customer_id == customer_id)
    return list(session.exec(rows.order_by(col(Activity.id).desc()).limit(limit)).all())


def log_email_sent(session: Session, *, to: str, subject: str, key: str) -> Activity | None:
    """Record that an email went to a customer, once per key; return the row (None: not a customer)."""
    prior = session.exec(select(Activity).where(Activity.idempotency_key == key)).first()
    if prior is not None:
        return prior
    customer = customer_by_email(session, to)
    if customer is None or customer.id is None:
        return None
    row = Activity(
        customer_id=customer.id, kind="email", text=f"Sent: {subject}", source="outreach", idempotency_key=key
    )
    session.add(row)
    session.flush()
    return row
