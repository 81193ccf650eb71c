"""The default set of agents, gathered into one registry."""

from __future__ import annotations

from agents import bookkeeping, invoicing, ledger_summary, outreach, tasks, workspace
from agents import knowledge as knowledge_agent
from agents.registry import Registry
from memory.knowledge.store import KnowledgeStore


def default_registry(
    knowledge: KnowledgeStore | None = None, outreach_config: outreach.OutreachConfig | None = None
) -> Registry:
    """Return a registry of every built-in agent's operations (knowledge, outreach: when given theirs)."""
    ops = [
        *bookkeeping.OPERATIONS,
        *invoicing.OPERATIONS,
        *ledger_summary.OPERATIONS,
        *tasks.OPERATIONS,
        *workspace.OPERATIONS,
    ]
    if knowledge is not None:
        ops += knowledge_agent.operations(knowledge)
    if outreach_config is not None:
        ops += outreach.operations(outreach_config)
    return Registry(ops)
