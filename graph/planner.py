"""The planner interface: text in, proposed operations (and maybe words) out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agents.contract import RawProposal


@dataclass(frozen=True)
class PlanRequest:
    """What a planner sees: the request, recent turns, who asks, and retrieved context (``<data>`` blocks)."""

    text: str
    actor: str
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first
    run_id: str = ""  # whose budget reservation a model call belongs to
    agent: str = "planner"  # whose budget it spends
    context: str = ""
    untrusted: bool = False  # the request carries content from outside the operator
    agents: tuple[str, ...] | None = None  # the agents it was routed to, whose tools are offered (None: all)

@dataclass(frozen=True)
class Usage:
    """Tokens a model call used and what it cost."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached_tokens: int = 0
    rung: str = ""  # the ladder rung that served the call: primary|cheap|cache|rules
    recorded: bool = False  # already written to the spend ledger (the engine must not add it again)


@dataclass(frozen=True)
class Plan:
    """A planner's answer."""

    proposals: list[RawProposal] = field(default_factory=list)
    reply: str = ""
    planner: str = "rules"
    offers: tuple[str, ...] = ()  # a "did you mean": the commands offered, nearest first
    usage: list[Usage] = field(default_factory=list)


class Planner(Protocol):
    """Anything that turns a request into a plan."""

    name: str

    def plan(self, request: PlanRequest) -> Plan:
        """Return the plan for a request."""
        ...
