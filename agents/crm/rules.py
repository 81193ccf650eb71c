"""The CRM's lines of the rule-based grammar (its spec's ``rules``; the drafts agent has its own).

Every line starts with its own word (``customer``, ``customers``, ``deal``, ``pipeline``, ``log``),
so none overlaps another agent's rule; within a word, the more specific shape is tried first
(``deal 2 won`` before ``deal Dana 4000 …``).
"""

from __future__ import annotations

import re
from typing import Any

from agents.contract import RawProposal
from agents.money import AMOUNT_START, split_amount
from agents.spec import Rule

_STAGES = "lead|qualified|proposal|won|lost"
_FIELDS = "name|company|email|status|notes"


def _raw(key: str, **args: Any) -> RawProposal:
    return RawProposal(key, {k: v for k, v in args.items() if v is not None})


def _add_customer(m: re.Match[str]) -> RawProposal:
    company = (m["company"] or "").strip() or None
    email = (m["email"] or m["bare"] or "").strip() or None  # <bob@x.io> or bob@x.io
    return _raw("crm.add_customer", name=m["name"].strip(), email=email, company=company)


def _deal(m: re.Match[str]) -> RawProposal:
    value, title = split_amount(m["tail"])
    return _raw("crm.add_deal", customer=m["customer"].strip(), value=f"{value}", title=title)


_I, _S = re.I, re.I | re.S
CRM_RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^customers$", _I), lambda m: _raw("crm.list_customers")),
    Rule(
        re.compile(
            r"^customer\s+add\s+(?P<name>[^<]+?)\s*"
            r"(?:(?:<(?P<email>[^>]*)>|(?P<bare>[^\s<>@]+@[^\s<>]+))\s*(?P<company>.*))?$",
            _I,
        ),
        _add_customer,
    ),
    Rule(
        re.compile(rf"^customer\s+#?(?P<id>\d+)\s+(?P<field>{_FIELDS})\s+(?P<value>.+)$", _S),
        lambda m: _raw(
            "crm.update_customer", customer_id=int(m["id"]), **{m["field"].lower(): m["value"].strip()}
        ),
    ),
    Rule(re.compile(r"^customer\s+(?P<q>.+)$", _I), lambda m: _raw("crm.find_customer", query=m["q"].strip())),
    Rule(
        re.compile(rf"^deal\s+#?(?P<id>\d+)\s+(?P<stage>{_STAGES})$", _I),
        lambda m: _raw("crm.move_deal", deal_id=int(m["id"]), stage=m["stage"].lower()),
    ),
    Rule(re.compile(rf"^deal\s+(?P<customer>.+?)\s+(?P<tail>{AMOUNT_START}\S*\s+.+)$", _S), _deal),
    Rule(re.compile(r"^(?:pipeline|deals)$", _I), lambda m: _raw("crm.pipeline")),
    Rule(
        re.compile(r"^log\s+(?P<kind>call|email|note)\s+(?P<customer>[^:]+):\s*(?P<text>.+)$", _S),
        lambda m: _raw(
            "crm.log_activity", kind=m["kind"].lower(), customer=m["customer"].strip(), text=m["text"].strip()
        ),
    ),
)
