"""The default set of agents, gathered into one registry."""

from __future__ import annotations

from agents import (
    bookkeeping,
    crm,
    drafts,
    invoicing,
    ledger_summary,
    outreach,
    research,
    tasks,
    webhooks,
    workspace,
)
from agents import calendar as calendar_agent
from agents import knowledge as knowledge_agent
from agents.contract import AgentPrompt
from agents.registry import Registry
from memory.knowledge.store import KnowledgeStore


def default_registry(
    knowledge: KnowledgeStore | None = None,
    outreach_config: outreach.OutreachConfig | None = None,
    research_config: research.ResearchConfig | None = None,
    calendar_config: calendar_agent.CalendarConfig | None = None,
    webhooks_config: webhooks.WebhooksConfig | None = None,
    tasks_config: tasks.TasksConfig | None = None,
) -> Registry:
    """Return a registry of every built-in agent's operations (knowledge+research, outreach, calendar, webhooks: when given theirs)."""
    ops = [
        *bookkeeping.OPERATIONS,
        *invoicing.OPERATIONS,
        *ledger_summary.OPERATIONS,
        *(tasks.operations(tasks_config) if tasks_config is not None else tasks.OPERATIONS),
        *workspace.OPERATIONS,
        *crm.OPERATIONS,
        *drafts.OPERATIONS,
    ]
    if knowledge is not None:
        ops += knowledge_agent.operations(knowledge)
        ops += research.operations(knowledge, research_config)
    if outreach_config is not None:
        ops += outreach.operations(outreach_config)
    if calendar_config is not None:
        ops += calendar_agent.operations(calendar_config)
    if webhooks_config is not None:
        ops += webhooks.operations(webhooks_config)
    books = AgentPrompt(bookkeeping.AGENT, bookkeeping.PROMPT_VERSION, bookkeeping.PROMPT)
    registry = Registry(ops, prompts=[books, crm.AGENT_PROMPT, drafts.AGENT_PROMPT])
    if calendar_config is None:
        registry.not_set_up(
            "calendar",
            "No calendar is set up: set COO_CALENDAR_ICS (a feed, read-only) or COO_CALDAV_URL (read and write).",
        )
    if webhooks_config is None:
        registry.not_set_up(
            "webhooks",
            'No webhook targets are set up: name them in COO_WEBHOOKS, e.g. {"crm": {"url": "https://…", "secret": "…"}}.',
        )
    return registry
