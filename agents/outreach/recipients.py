"""The outreach recipient check: an email to someone who is not a known contact is never taken silently.

A recipient with no Customer row of that address is asked about with a plain reason, whatever the
trust settings say; if the run had read untrusted content (an inbound email, a web page, a webhook)
the send is denied outright and the refusal is reported in the chat, since such content is exactly
where an attacker would plant a new address.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.contract import Action
from agents.outreach.send import SEND_KIND
from agents.spec import PolicyCheck, Verdict
from memory import crm


def recipient_check(db: Engine) -> PolicyCheck:
    """Return the check that votes on every ``outreach.send_email`` by whether its recipient is known."""

    def check(action: Action) -> tuple[Verdict, str] | None:
        if action.name != SEND_KIND:
            return None
        to = str(action.arguments.get("to", ""))
        with Session(db) as s:
            if crm.is_known_contact(s, to):
                return None
        if action.untrusted_source:
            return (
                "deny",
                f"new recipient: {to} is not one of your contacts, and this run read untrusted "
                "content; I will not send to an address taken from it. Add them as a customer first "
                "if you mean it.",
            )
        return ("ask", f"new recipient: {to} is not one of your contacts")

    return check
