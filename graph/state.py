"""Typed graph state: one request's proposals, verdicts, decisions and results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.contract import Action

Verdict = Literal["run", "ask", "deny"]
Decision = Literal["approved", "rejected", "expired"]


class Proposal(BaseModel):
    """A planner's proposal after validation and policy."""

    key: str
    action: Action | None = None
    verdict: Verdict = "ask"
    reason: str = ""
    approval_id: str | None = None
    advisory: bool = False  # the kind is in advisory mode: asked "did you do this?", never executed
    prechecked: bool = False  # denied by its operation's pre-check: ``reason`` is the whole sentence


class Preset(BaseModel):
    """A proposal fixed before planning (the operator edited a card's arguments): no model is asked."""

    key: str
    arguments: dict[str, Any]


class StepResult(BaseModel):
    """What executing one proposal produced."""

    key: str
    ok: bool
    text: str
    event_id: str | None = None
    reversible: bool = False
    duplicate: bool = False


class RunState(BaseModel):
    """The state of one run (one LangGraph thread)."""

    run_id: str
    conversation: str
    channel: str
    actor: str
    text: str
    deciders: list[str] = Field(default_factory=list)
    untrusted: bool = False
    preset: list[Preset] = Field(default_factory=list)
    planner: str = ""
    usage: list[dict[str, Any]] = Field(default_factory=list)  # model, tokens, cost per call
    reply: str = ""
    offers: list[str] = Field(default_factory=list)  # the commands a "did you mean" reply offers
    proposals: list[Proposal] = Field(default_factory=list)
    decisions: dict[str, Decision] = Field(default_factory=dict)
    results: list[StepResult] = Field(default_factory=list)
