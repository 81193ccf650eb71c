"""Build the cost-control parts from settings: the price table, the budget ledger, the cache, the ladder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine as SqlEngine

from agents.contract import SideEffect
from agents.registry import Registry
from bot.settings import Settings
from graph.budget import BudgetLedger
from graph.cache import ResponseCache
from graph.chat_model import ChatPlanner
from graph.ladder import Ladder
from graph.placement import EndpointSpec, Placement, Router, agent_of, intent_scorer, known_agents
from graph.pricing import FREE, Price, price_table
from graph.rules import RulePlanner
from graph.summary import ModelSummariser, Summariser
from graph.tokens import make_counter

STALE_RESERVATION = timedelta(minutes=10)  # far beyond a call's timeout and retries


def build_prices(settings: Settings) -> dict[str, Price]:
    """Return the price table: the defaults with COO_PRICES_JSON merged in."""
    return price_table(settings.coo_prices_json)


def build_ledger(settings: Settings, db: SqlEngine) -> BudgetLedger:
    """Return the budget ledger, with the settings' caps as defaults, and free what a crash left held."""
    ledger = BudgetLedger(
        db,
        daily_usd=settings.coo_budget_daily_usd,
        monthly_usd=settings.coo_budget_monthly_usd,
        tz=ZoneInfo(settings.coo_timezone),
    )
    ledger.release_stale(STALE_RESERVATION)
    return ledger


def build_cache(settings: Settings, db: SqlEngine) -> ResponseCache | None:
    """Return the response cache, or None when COO_CACHE_TTL_S is 0."""
    if not settings.coo_cache_ttl_s:
        return None
    return ResponseCache(db, ttl=timedelta(seconds=settings.coo_cache_ttl_s))


def build_ladder(
    settings: Settings,
    registry: Registry,
    ledger: BudgetLedger,
    cache: ResponseCache | None,
    rules: RulePlanner | None = None,
) -> Ladder:
    """Return the planner: the ladder over the configured models, the cache and the rule-based model."""
    rules = rules or RulePlanner(explain_mode=not settings.model_configured)
    primary = cheap = None
    if settings.model_configured:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        prices, counter = build_prices(settings), make_counter(settings.coo_tiktoken_encoding)
        local = settings.model_local
        if local:  # a model on the operator's own hardware costs nothing, unless COO_PRICES_JSON says
            for model in (settings.coo_model, settings.coo_cheap_model):
                if model and model not in settings.coo_prices_json:
                    prices[model] = FREE

        def chat(model: str) -> ChatPlanner:
            return ChatPlanner(
                model=model,
                api_key=key,
                base_url=settings.openai_base_url,
                registry=registry,
                timeout_s=settings.coo_model_timeout_s,
                # A local server that failed will fail again at once: step down instead of waiting.
                max_retries=0 if local else settings.coo_model_max_retries,
                max_output_tokens=settings.coo_max_output_tokens,
                prices=prices,
                counter=counter,
                local=local,
            )

        primary = chat(settings.coo_model)
        if settings.coo_cheap_model and settings.coo_cheap_model != settings.coo_model:
            cheap = chat(settings.coo_cheap_model)
    placement = settings.placement()
    endpoints = {name: _placed(settings, name, spec, registry) for name, spec in placement.endpoints.items()}
    return Ladder(
        rules=rules,
        rules_first=rules.instead_of_model if settings.coo_rules_first else None,
        ledger=ledger,
        primary=primary,
        cheap=cheap,
        cache=cache,
        cheap_at=settings.coo_cheap_at,
        router=build_router(settings, registry, rules, placement) if (primary or endpoints) else None,
        endpoints=endpoints,
    )


def routed(ladder: Ladder | None) -> dict[str, Any]:
    """Return what context assembly needs of the ladder's routing (nothing without a router)."""
    if ladder is None or ladder.router is None:
        return {}
    return {"router": ladder.router, "fixed": ladder.fixed_tokens}


def build_router(settings: Settings, registry: Registry, rules: RulePlanner, placement: Placement) -> Router:
    """Return the router: requests to agents by the intents (every agent without them), then endpoints."""
    understander = rules.understander if settings.coo_route_tools else None
    index = understander.index if understander is not None else None
    offered = registry.offered()
    agents = known_agents(offered)
    phrased = {agent_of(p.key) for p in index.phrasings} if index is not None else set()
    # A general lookup no intent names (workspace search) goes with any routed agent. An agent with
    # writes and no intents (playbooks, reached by pasting YAML) is not offered on every call.
    writes = {op.agent for op in offered if op.side_effect != SideEffect.READ}
    return Router(
        intent_scorer(index.nearest) if index is not None else None,
        agents,
        placement,
        default_local=settings.model_local,
        always=tuple(a for a in agents if a not in phrased and a not in writes),
    )


def _placed(settings: Settings, name: str, spec: EndpointSpec, registry: Registry) -> ChatPlanner:
    """Return the planner of an endpoint named in COO_PLACEMENT."""
    prices = build_prices(settings)
    if spec.local and spec.model not in settings.coo_prices_json:
        prices[spec.model] = FREE
    return ChatPlanner(
        model=spec.model,
        api_key=spec.api_key.get_secret_value() if spec.api_key else None,
        base_url=spec.base_url,
        registry=registry,
        timeout_s=settings.coo_model_timeout_s,
        max_retries=0 if spec.local else settings.coo_model_max_retries,
        max_output_tokens=settings.coo_max_output_tokens,
        prices=prices,
        counter=make_counter(settings.coo_tiktoken_encoding),
        local=spec.local,
        endpoint=name,
    )


def build_summariser(settings: Settings, ledger: BudgetLedger, **options: Any) -> Summariser | None:
    """Return a model summariser when a model is configured (the digest's, unless ``options`` say else)."""
    if not settings.model_configured:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return ModelSummariser(
        model=settings.coo_cheap_model or settings.coo_model,
        api_key=key,
        base_url=settings.openai_base_url,
        ledger=ledger,
        prices=build_prices(settings),
        max_retries=settings.coo_model_max_retries,
        **options,
    )
