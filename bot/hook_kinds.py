"""What an inbound webhook's payload becomes, fixed by code (never by the model).

A ``payment`` hook's body is a payment notice — ``{"amount": "120.00", "currency": "EUR", "payer":
"Dana Ltd", "reference": "inv-42"}`` (``amount`` a JSON number or a decimal string, at most two decimal
places, kept exact) — and proposes exactly one ``bookkeeping.record_income`` of that amount, as a preset
proposal: validated and policed like any other, shown on a card, never planned. Every other kind is
shown to the operator as data, and nothing is proposed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents import money
from agents.money import parse_amount
from graph.state import Preset

MAX_SHOWN = 1500


class BadPayload(ValueError):
    """The body is not JSON, or not what the hook's kind expects (answer 400)."""


class PaymentNotice(BaseModel):
    """The fields of a payment notice that matter; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    amount: Decimal
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    payer: str = Field(min_length=1, max_length=120)
    reference: str = Field(min_length=1, max_length=120)

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise ValueError("amount must be a number or a decimal string")
        if not re.fullmatch(r"\d+(?:\.\d{1,2})?", str(value).strip()):  # plain digits: no 5k, no 1e3
            raise ValueError("amount must be positive with at most two decimal places")
        return parse_amount(value)


@dataclass(frozen=True)
class Inbound:
    """What one delivery becomes: the run's input text and its preset proposals, or a notice alone."""

    text: str
    preset: tuple[Preset, ...] = field(default_factory=tuple)


def parse_body(body: bytes) -> dict[str, Any]:
    """Parse a body as a JSON object, numbers kept exact.

    Raises:
        BadPayload: Not UTF-8 JSON, or not an object.
    """
    try:
        value = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[… nested too deep
        raise BadPayload(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise BadPayload("the body must be a JSON object")
    return value


def interpret(name: str, kind: str, body: dict[str, Any]) -> Inbound:
    """Return what a delivery of hook ``name`` (of ``kind``) becomes.

    Raises:
        BadPayload: A payment notice without valid amount, currency, payer and reference.
    """
    if kind == "payment":
        try:
            p = PaymentNotice.model_validate(body)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise BadPayload(f"not a payment notice ({detail})") from None
        currency, books = p.currency.upper(), money.currency()
        if currency != books:  # never recorded as if it were the books' currency
            return Inbound(
                text=f"Inbound webhook {name}: a payment of {p.amount:.2f} {currency} from {p.payer}, ref"
                f" {p.reference} (untrusted). The books are in {books}, so nothing was proposed: convert it"
                f" and type `income <amount> <memo>` to record it."
            )
        memo = f"{currency} payment from {p.payer}, ref {p.reference} (webhook {name})"
        args = {"amount": f"{p.amount:.2f}", "memo": memo}
        text = f"Inbound webhook {name}: payment of {p.amount:.2f} {currency} (untrusted; fixed proposal)"
        return Inbound(text=text, preset=(Preset(key="bookkeeping.record_income", arguments=args),))
    shown = json.dumps(body, indent=1, sort_keys=True, default=str, ensure_ascii=False)
    if len(shown) > MAX_SHOWN:
        shown = shown[:MAX_SHOWN] + "\n… (truncated)"
    return Inbound(text=f"Webhook {name} received (untrusted data, shown as is; nothing was done):\n{shown}")
