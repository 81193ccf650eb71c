"""The CRM agent's typed inputs and outputs (see ``agents.crm`` for the operations)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from agents.errors import Refusal
from agents.money import Money
from memory.workspace import Customer

EMAIL = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"
Status = Literal["lead", "active", "past"]
Stage = Literal["lead", "qualified", "proposal", "won", "lost"]
FIELDS = ("name", "company", "email", "status", "notes")


class CustomerArgs(BaseModel):
    """Arguments of a new customer."""

    name: str = Field(min_length=1, max_length=200, description="Full name")
    email: str = Field(default="", max_length=254, description="Email address ('' when unknown)")
    company: str = Field(default="", max_length=200)
    status: Status = "active"
    notes: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _email_shape(self) -> CustomerArgs:
        _check_email(self.email)
        return self


class UpdateArgs(BaseModel):
    """Arguments of a customer update: the fields to change (omitted ones stay as they are)."""

    customer_id: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    status: Status | None = None
    notes: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _something(self) -> UpdateArgs:
        if not self.changes():
            raise ValueError("name at least one field to change (name, company, email, status, notes)")
        if self.email:
            _check_email(self.email)
        return self

    def changes(self) -> dict[str, str]:
        """Return the fields this update sets."""
        return {f: v for f in FIELDS if (v := getattr(self, f)) is not None}


class DealArgs(BaseModel):
    """Arguments of a new deal."""

    customer: str = Field(min_length=1, max_length=200, description="Customer number, name or email")
    title: str = Field(min_length=1, max_length=300)
    value: Money = Field(description="Deal value in dollars, e.g. 4000")
    stage: Stage = "lead"


class MoveArgs(BaseModel):
    """Arguments of a stage change."""

    deal_id: int = Field(ge=1)
    stage: Stage


class ActivityArgs(BaseModel):
    """Arguments of a logged contact activity."""

    customer: str = Field(min_length=1, max_length=200, description="Customer number, name or email")
    kind: Literal["email", "call", "note", "deal"] = "note"
    text: str = Field(min_length=1, max_length=5000)
    deal_id: int | None = Field(default=None, ge=1)


class FindArgs(BaseModel):
    """Arguments of a customer lookup."""

    query: str = Field(min_length=1, max_length=300, description="Number, name, company or email")


class NoArgs(BaseModel):
    """No arguments."""


class CustomerOut(BaseModel):
    """A customer as operations report it."""

    id: int
    name: str
    company: str
    email: str
    status: str

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        """Return the view of a row."""
        return cls(id=c.id or 0, name=c.name, company=c.company, email=c.email, status=c.status)


def _check_email(value: str) -> None:
    if value and not re.fullmatch(EMAIL, value):
        raise Refusal(f"not an email address: {value[:60]!r}")
