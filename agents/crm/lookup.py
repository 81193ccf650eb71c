"""Finding the one customer an operation means, and labelling what a run wrote."""

from __future__ import annotations

from sqlmodel import Session

from agents.contract import ExecContext
from agents.errors import Missing
from memory import crm, workspace
from memory.workspace import Customer


def resolve_customer(session: Session, ref: str) -> Customer:
    """Return the customer a reference means: ``3``/``#3``, an email address, or a name that fits one.

    Raises:
        LookupError: Nothing matches, or several do (the message lists them, to pick by number).
    """
    text = ref.strip()
    if text.lstrip("#").isdigit():
        c = session.get(Customer, int(text.lstrip("#")))
        if c is None:
            raise Missing(f"there is no customer #{text.lstrip('#')}")
        return c
    if "@" in text:
        by_email = crm.customer_by_email(session, text)
        if by_email is not None:
            return by_email
    found = workspace.find_customers(session, text, 5)
    exact = [c for c in found if text.lower() in (c.name.lower(), c.email.lower())]
    if len(exact) == 1:
        return exact[0]
    words = text.lower().split()
    full = [c for c in found if all(w in f"{c.name} {c.company} {c.email}".lower() for w in words)]
    if len(full) == 1:
        return full[0]
    if not full:
        raise Missing(f"no customer matches {text!r}")
    names = ", ".join(f"#{c.id} {c.name}" for c in full)
    raise Missing(f"several customers match {text!r} ({names}); use the number")


def source_of(ctx: ExecContext) -> str:
    """Return how a row written by this run is labelled: the operator, or untrusted content."""
    return f"untrusted:{ctx.run_id}" if ctx.untrusted else "operator"
