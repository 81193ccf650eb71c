"""The rule-based model's grammar for the CRM and drafts (joined into ``graph.rules``).

Every line starts with its own word (``customer``, ``customers``, ``deal``, ``pipeline``, ``log``,
``draft``, ``drafts``, ``send draft``), so none overlaps a rule of ``graph.rules``; within a word,
the more specific shape is tried first (``deal 2 won`` before ``deal Dana 4000 …``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agents.money import AMOUNT_START, split_amount
from graph.planner import RawProposal

_STAGES = "lead|qualified|proposal|won|lost"
_FIELDS = "name|company|email|status|notes"


def _raw(key: str, **args: Any) -> RawProposal:
    return RawProposal(key, {k: v for k, v in args.items() if v is not None})


def _add_customer(m: re.Match[str]) -> RawProposal:
    company = (m["company"] or "").strip() or None
    email = (m["email"] or m["bare"] or "").strip() or None  # <bob@x.io> or bob@x.io
    return _raw("crm.add_customer", name=m["name"].strip(), email=email, company=company)


def _draft(m: re.Match[str]) -> RawProposal:
    kind = m["kind"].lower()
    subject = (m["subject"] or "").strip()
    return _raw("drafts.create_draft", kind=kind, to=m["to"], subject=subject, body=m["body"].strip())


def _deal(m: re.Match[str]) -> RawProposal:
    value, title = split_amount(m["tail"])
    return _raw("crm.add_deal", customer=m["customer"].strip(), value=f"{value}", title=title)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], RawProposal]]
_I, _S = re.I, re.I | re.S
CRM_RULES: list[Rule] = [
    (re.compile(r"^customers$", _I), lambda m: _raw("crm.list_customers")),
    (
        re.compile(
            r"^customer\s+add\s+(?P<name>[^<]+?)\s*"
            r"(?:(?:<(?P<email>[^>]*)>|(?P<bare>[^\s<>@]+@[^\s<>]+))\s*(?P<company>.*))?$",
            _I,
        ),
        _add_customer,
    ),
    (
        re.compile(rf"^customer\s+#?(?P<id>\d+)\s+(?P<field>{_FIELDS})\s+(?P<value>.+)$", _S),
        lambda m: _raw(
            "crm.update_customer", customer_id=int(m["id"]), **{m["field"].lower(): m["value"].strip()}
        ),
    ),
    (re.compile(r"^customer\s+(?P<q>.+)$", _I), lambda m: _raw("crm.find_customer", query=m["q"].strip())),
    (
        re.compile(rf"^deal\s+#?(?P<id>\d+)\s+(?P<stage>{_STAGES})$", _I),
        lambda m: _raw("crm.move_deal", deal_id=int(m["id"]), stage=m["stage"].lower()),
    ),
    (re.compile(rf"^deal\s+(?P<customer>.+?)\s+(?P<tail>{AMOUNT_START}\S*\s+.+)$", _S), _deal),
    (re.compile(r"^(?:pipeline|deals)$", _I), lambda m: _raw("crm.pipeline")),
    (
        re.compile(r"^log\s+(?P<kind>call|email|note)\s+(?P<customer>[^:]+):\s*(?P<text>.+)$", _S),
        lambda m: _raw(
            "crm.log_activity", kind=m["kind"].lower(), customer=m["customer"].strip(), text=m["text"].strip()
        ),
    ),
    (re.compile(r"^drafts$", _I), lambda m: _raw("drafts.list_drafts")),
    (
        re.compile(r"^send\s+draft\s+#?(?P<id>\d+)$", _I),
        lambda m: _raw("drafts.send_draft", draft_id=int(m["id"])),
    ),
    (
        re.compile(r"^draft\s+#?(?P<id>\d+)\s+(?P<field>to|subject|body):\s*(?P<value>.+)$", _S),
        lambda m: _raw(
            "drafts.edit_draft",
            draft_id=int(m["id"]),
            **{m["field"].lower(): m["value"] if m["field"].lower() == "body" else m["value"].strip()},
        ),
    ),
    (
        re.compile(
            r"^draft\s+(?P<kind>email|reply)\s+(?P<to>\S+@\S+)\s+(?P<subject>[^:\n]+):\s*(?P<body>.*)$", _S
        ),
        _draft,
    ),
    (
        re.compile(r"^draft\s+(?P<kind>post)\s+(?:(?P<subject>[^:\n]+):\s*)?(?P<body>.+)$", _S),
        lambda m: _raw(
            "drafts.create_draft",
            kind="post",
            subject=(m["subject"] or "").strip(),
            body=m["body"].strip(),
        ),
    ),
]
