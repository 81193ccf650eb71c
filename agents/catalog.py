"""The built-in agents, listed once: every other part of coo reads them from their specs.

Adding an agent is its package ``agents/<name>/`` (whose ``spec(deps, config)`` returns an
``AgentSpec``) and one line in ``AGENTS``. The order here is the order of the grammar's rules (the
first that matches wins), of ``help`` and of the model's tool list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agents import (
    bookkeeping,
    crm,
    drafts,
    knowledge,
    outreach,
    playbooks,
    research,
    tasks,
    trust,
    webhooks,
    workspace,
)
from agents import calendar as calendar_agent
from agents.phrasings import CHANNEL, Phrasing
from agents.registry import Registry
from agents.spec import AgentSpec, Deps, HelpEntry, Rule, SpecFactory
from memory.knowledge.store import KnowledgeStore

AGENTS: dict[str, SpecFactory] = {
    "bookkeeping": bookkeeping.spec,
    "tasks": tasks.spec,
    "knowledge": knowledge.spec,
    "outreach": outreach.spec,
    "research": research.spec,
    "calendar": calendar_agent.spec,
    "webhooks": webhooks.spec,
    "crm": crm.spec,
    "drafts": drafts.spec,
    "workspace": workspace.spec,
    "trust": trust.spec,
    "playbooks": playbooks.spec,
}


def build_specs(deps: Deps | None = None, configs: Mapping[str, Any] | None = None) -> list[AgentSpec]:
    """Return every agent's spec, each built from the shared ``deps`` and its config in ``configs``."""
    deps = deps or Deps()
    configs = configs or {}
    return [make(deps, configs.get(name)) for name, make in AGENTS.items()]


def registry_of(specs: Iterable[AgentSpec]) -> Registry:
    """Return the registry of the specs' operations and prompts (and why the missing ones are missing)."""
    specs = list(specs)
    registry = Registry(
        [op for s in specs for op in s.operations], prompts=[s.prompt for s in specs if s.prompt is not None]
    )
    for s in specs:
        if s.not_set_up is not None:
            registry.not_set_up(s.name, s.not_set_up)
    return registry


def default_registry(
    knowledge: KnowledgeStore | None = None,
    outreach_config: outreach.OutreachConfig | None = None,
    research_config: research.ResearchConfig | None = None,
    calendar_config: calendar_agent.CalendarConfig | None = None,
    webhooks_config: webhooks.WebhooksConfig | None = None,
    tasks_config: tasks.TasksConfig | None = None,
) -> Registry:
    """Return a registry of every built-in agent's operations (knowledge+research, outreach, calendar, webhooks: when given theirs)."""
    configs = {
        "outreach": outreach_config,
        "research": research_config,
        "calendar": calendar_config,
        "webhooks": webhooks_config,
        "tasks": tasks_config,
    }
    return registry_of(build_specs(Deps(knowledge=knowledge), configs))


GRAMMAR: tuple[AgentSpec, ...] = tuple(build_specs())
"""The specs as the grammar, ``help`` and the intents read them (no dependencies: no state is touched)."""


def rules(specs: Iterable[AgentSpec] = GRAMMAR) -> tuple[Rule, ...]:
    """Return the rule-based grammar: every spec's rules, in the specs' order."""
    return tuple(r for s in specs for r in s.rules)


def help_entries(specs: Iterable[AgentSpec] = GRAMMAR) -> tuple[HelpEntry, ...]:
    """Return every spec's help lines, in the specs' order."""
    return tuple(e for s in specs for e in s.help)


def phrasings(specs: Iterable[AgentSpec] = GRAMMAR) -> tuple[Phrasing, ...]:
    """Return how people say every command: the specs' phrasings, then the channel's own."""
    return (*(p for s in specs for p in s.phrasings), *CHANNEL)
