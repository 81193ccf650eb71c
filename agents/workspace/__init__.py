"""The workspace agent's read tools: find a customer, search customers, projects, drafts, tickets and the ledger.

Writes to these tables belong to the agents that own them (CRM, drafts, bookkeeping).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.contract import ExecContext, Operation, Outcome, SideEffect
from agents.spec import AgentSpec, Deps
from memory import workspace

AGENT = "workspace"


class QueryArgs(BaseModel):
    """Arguments of a workspace lookup."""

    query: str = Field(min_length=1, max_length=300, description="Names, emails or words to look for")
    limit: int = Field(default=5, ge=1, le=50)


def _find_customer(ctx: ExecContext, args: QueryArgs) -> Outcome:
    found = workspace.find_customers(ctx.session, args.query, args.limit)
    if not found:
        return Outcome(text=f"No customer matches {args.query!r}.", payload={"customers": []})
    lines = "\n".join(workspace.describe_customer(c) for c in found)
    return Outcome(
        text=f"Customers matching {args.query!r}:\n{lines}", payload={"customers": [c.id for c in found]}
    )


def _search(ctx: ExecContext, args: QueryArgs) -> Outcome:
    rows = workspace.search(ctx.session, args.query, args.limit)
    if not rows:
        return Outcome(text=f"Nothing in the workspace matches {args.query!r}.", payload={"rows": []})
    lines = "\n".join(r.line for r in rows)
    return Outcome(
        text=f"Workspace matches for {args.query!r}:\n{lines}", payload={"rows": [r.ref for r in rows]}
    )


OPERATIONS: list[Operation[Any]] = [
    Operation(
        agent=AGENT,
        name="find_customer",
        description="Find customers by name, company or email.",
        args=QueryArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: f"Find customers matching {a.query!r}",
        changes=lambda a: "nothing",
        execute=_find_customer,
    ),
    Operation(
        agent=AGENT,
        name="search",
        description="Search customers, projects, drafts, tickets and ledger memos.",
        args=QueryArgs,
        side_effect=SideEffect.READ,
        summarize=lambda a: f"Search the workspace for {a.query!r}",
        changes=lambda a: "nothing",
        execute=_search,
    ),
]



def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the workspace agent: read-only look-ups the model planner may use."""
    return AgentSpec(name=AGENT, operations=tuple(OPERATIONS))
