"""The composition root: build every part from settings and hand explicit parameters down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from types import TracebackType
from zoneinfo import ZoneInfo

import httpx

from agents.catalog import build_specs, registry_of
from agents.money import set_currency
from agents.registry import Registry
from agents.spec import AgentSpec, Deps
from bot.agents import agent_configs
from bot.calendars import build_calendar
from bot.costs import build_cache, build_ladder, build_ledger, build_summariser, routed
from bot.intents import build_rules
from bot.jobs import build_jobs
from bot.refusals import Refusals
from bot.settings import Settings, secret_values
from connectors.web import new_client
from graph.approvals import ApprovalStore
from graph.checkpointer import open_checkpointer
from graph.compounding import OutcomeNotes
from graph.context import Budget, ContextBuilder
from graph.engine import Engine, Request
from graph.faults import NO_FAULTS, Faults
from graph.jobs.workers import Workers
from graph.ladder import Ladder
from graph.limits import Limits
from graph.planner import Planner
from graph.policy import Policy
from graph.rules import RulePlanner
from graph.trust import TrustKeeper, never_auto
from graph.trust_rules import HardLimits
from memory.db import make_engine
from memory.engines import ensure_data_dir
from memory.knowledge.embedders import Embedder
from memory.knowledge.store import KnowledgeStore
from memory.owner import Owner
from memory.redact import Redactor
from memory.tables import utcnow

log = logging.getLogger(__name__)

CONSOLE_ACTOR = "console:local"


def build_policy(settings: Settings) -> Policy:
    """Return the operator's policy from settings."""
    return Policy(
        auto_amount_limit_cents=round(settings.coo_auto_amount_limit_usd * 100),
        hard_amount_limit_cents=round(settings.coo_hard_amount_limit_usd * 100),
    )


def build_embedder(settings: Settings) -> Embedder:
    """Return the OpenAI-compatible embedder when one is configured, else the embedded USE model."""
    if settings.embeddings_configured:
        from memory.knowledge.embedders import OpenAIEmbedder

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedder(
            model=settings.coo_embeddings_model or "",
            api_key=key,
            base_url=settings.coo_embeddings_base_url or settings.openai_base_url,
        )
    from memory.knowledge.embedders import UseEmbedder

    return UseEmbedder()


class App:
    """Everything a process needs, opened together and closed together (``with App(settings) as app``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        planner: Planner | None = None,
        policy: Policy | None = None,
        registry: Registry | None = None,
        embedder: Embedder | None = None,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self.settings = settings
        set_currency(settings.coo_currency)  # the books' currency, for every amount parsed and shown
        self._stack = ExitStack()
        ensure_data_dir(settings.coo_data_dir)  # a one-line error naming the path, whatever the database
        self.db = make_engine(settings.database())
        self._stack.callback(self.db.dispose)
        self.redactor = Redactor(secret_values(settings))
        self.refusals = Refusals(settings.coo_refusal_period_s)  # one refusal per stranger per period
        self.embedder = embedder or build_embedder(settings)
        self.knowledge = KnowledgeStore(self.db, self.embedder, settings.coo_data_dir / "knowledge").open()
        self._stack.callback(self.knowledge.close)
        # Calendars (bot/calendars.py): None when neither an ICS feed nor CalDAV is configured.
        self.calendar = build_calendar(settings, self._stack)
        self.ledger = build_ledger(settings, self.db)
        # Every agent, from its spec (agents/catalog.py lists them): one loop, one deps bundle.
        deps = Deps(
            db=self.db,
            knowledge=self.knowledge,
            http=self._http_client,
            model=lambda **options: build_summariser(settings, self.ledger, **options),
            clock=utcnow,
            tz=ZoneInfo(settings.coo_timezone),
        )
        self.specs: list[AgentSpec] = build_specs(deps, agent_configs(settings, self.calendar))
        self.registry = registry or registry_of(self.specs)
        checkpointer = self._stack.enter_context(
            open_checkpointer(settings.database_url, settings.coo_data_dir, self.redactor)
        )
        self.approvals = ApprovalStore(self.db, timedelta(seconds=settings.coo_approval_ttl_s))
        self.cache = build_cache(settings, self.db)
        self.ladder: Ladder | None = None
        if planner is None:
            rules = build_rules(settings, self.db, self.embedder)
            self.ladder = planner = build_ladder(settings, self.registry, self.ledger, self.cache, rules)
        # The rule-based model reads no context; a model gets a bounded one.
        context = None
        if not isinstance(planner, RulePlanner) and (self.ladder is None or settings.model_configured):
            budget = Budget(total_tokens=settings.coo_context_tokens)
            context = ContextBuilder(knowledge=self.knowledge, db=self.db, budget=budget, **routed(self.ladder))
        # The agents' own rules (recipients, URL allowlists, calendar writes) join whatever policy was given.
        base_policy = policy or build_policy(settings)
        agent_checks = tuple(check for spec in self.specs for check in spec.checks)
        self.policy = replace(base_policy, checks=(*base_policy.checks, *agent_checks))
        # Graduated autonomy (graph/trust.py): the levels operators granted widen ask to run within
        # their bounds; the hard limits (irreversible, denied, the auto amount limit) never move.
        limits = HardLimits(
            self.policy.auto_amount_limit_cents,
            never=never_auto(self.registry.offered()),
            denied=frozenset(self.policy.denied),
        )
        self.trust = TrustKeeper(
            self.db, limits, streak=settings.coo_trust_streak or 10**9, offers=settings.coo_trust_streak > 0
        )
        if self.policy.learned is None:
            self.policy = replace(self.policy, learned=self.trust.level)
        notes = OutcomeNotes(self.knowledge, self.db)
        self.engine = Engine(
            db=self.db,
            checkpointer=checkpointer,
            registry=self.registry,
            planner=planner,
            policy=self.policy,
            approvals=self.approvals,
            redactor=self.redactor,
            limits=Limits(
                max_input_chars=settings.coo_max_input_chars,
                max_steps=settings.coo_max_steps,
                requests_per_minute=settings.coo_rate_per_minute,
            ),
            history_turns=settings.coo_history_turns,
            context=context,
            on_finished=notes,
            on_undone=notes.forget_run,
            faults=faults,
            budget=self.ledger,
        )
        self.engine.trust, self.trust.submit = self.trust, self.engine.submit
        if self.ladder is not None:  # the cheap model plans an agent whose overrides it does no worse on
            self.ladder.prefer_cheap = self.trust.prefer_cheap
        # Long work (bot/jobs.py): the job queue on the broker, and the notifier jobs report through.
        self.notifier, self.jobs = build_jobs(self)
        self._stack.callback(self.jobs.close)
        self.workers: Workers | None = None
        # This process's identity on claims; dispatchers start its lease renewal (memory/owner.py).
        self.owner = Owner(self.db, settings.coo_claim_lease_s)
        self._stack.callback(self.owner.stop)

    def __enter__(self) -> App:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; close the database and the checkpointer."""
        self._stack.close()

    def _http_client(self) -> httpx.Client:
        """Return a new HTTP client for an agent (web fetches), closed when the App closes."""
        client = new_client()
        self.on_close(client.close)
        return client

    def on_close(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the App closes (parts built for it, e.g. an HTTP client)."""
        self._stack.callback(callback)

    def start_workers(self) -> Workers:
        """Run job workers (and the digest scheduler) in this process until the App closes."""
        if self.workers is None:
            from bot.jobs import start_workers

            self.workers = start_workers(self)
            self._stack.callback(self.workers.stop)
        return self.workers

    @property
    def embedded_jobs(self) -> bool:
        """Tell whether jobs run in this process (no REDIS_URL) rather than in `coo worker`."""
        return not self.settings.redis_url

    def is_operator(self, actor: str) -> bool:
        """Tell whether an actor may talk to the engine and decide (the console is always the operator)."""
        return actor == CONSOLE_ACTOR or actor in self.settings.coo_operators

    def deciders_for(self, channel: str) -> list[str]:
        """Return who may decide approvals raised from a channel: its operators (or the console)."""
        if channel == "console":
            return [CONSOLE_ACTOR]
        return [op for op in self.settings.coo_operators if op.startswith(f"{channel}:")]

    def request(self, channel: str, conversation: str, actor: str, text: str) -> Request:
        """Build an engine request with the right deciders."""
        return Request(
            channel=channel,
            conversation=conversation,
            actor=actor,
            text=text,
            deciders=self.deciders_for(channel),
        )
