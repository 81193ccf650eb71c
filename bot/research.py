"""Build the research agent's parts from settings: the fetcher, its job kind, and its policy check."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from agents.research import ResearchConfig, url_check
from agents.research.job import research_kind
from agents.research.prompt import render_research_prompt
from bot.settings import Settings
from connectors.netcheck import EVERYWHERE, AddressPolicy
from connectors.web import Fetcher, FetchLimits, new_client
from graph.jobs.kinds import JobKind
from graph.policy import Check

if TYPE_CHECKING:
    from bot.app import App


def research_config(settings: Settings) -> ResearchConfig:
    """Return how research jobs are queued (COO_RESEARCH_RETRIES)."""
    return ResearchConfig(max_attempts=settings.coo_research_retries + 1)


def fetch_limits(settings: Settings) -> FetchLimits:
    """Return the fetch limits of the settings (COO_FETCH_MAX_BYTES, COO_FETCH_TIMEOUT_S)."""
    t = settings.coo_fetch_timeout_s
    return FetchLimits(
        max_bytes=settings.coo_fetch_max_bytes,
        connect_timeout_s=min(t, 5.0),
        read_timeout_s=t,
        total_timeout_s=max(3 * t, 30.0),
    )


def address_policy(settings: Settings) -> AddressPolicy:
    """Return which addresses research may reach (COO_FETCH_ALLOW_PRIVATE, COO_FETCH_ALLOW_NETWORKS).

    Raises:
        ValueError: A network in COO_FETCH_ALLOW_NETWORKS is not a CIDR.
    """
    if settings.coo_fetch_allow_private:
        return AddressPolicy(EVERYWHERE)
    try:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in settings.coo_fetch_allow_networks)
    except ValueError as exc:
        raise ValueError(f"COO_FETCH_ALLOW_NETWORKS: {exc}") from None
    return AddressPolicy(nets)


def research_kind_for(app: App) -> JobKind:
    """Return the ``research.fetch`` job kind of an App (its HTTP client is closed with the App)."""
    from bot.jobs import build_summariser

    settings = app.settings
    client = new_client()
    app.on_close(client.close)
    fetcher = Fetcher(client, limits=fetch_limits(settings), addresses=address_policy(settings))
    summariser = build_summariser(
        settings, app.ledger, agent="research", prompt=render_research_prompt, max_output_tokens=400
    )
    return research_kind(fetcher, app.knowledge, summariser, max_retries=settings.coo_research_retries)


def research_checks(app: App) -> list[Check]:
    """Return the research agent's policy checks (URLs refused outright; the rest always asked)."""
    return [url_check(address_policy(app.settings))]
