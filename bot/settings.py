"""Settings, read once from the environment and `.env` by pydantic-settings. Nothing else reads os.environ."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from graph.placement import Placement


def default_data_dir() -> Path:
    """Return the user's data directory for coo (platformdirs), whatever the current folder."""
    from platformdirs import user_data_path

    return user_data_path("coo", appauthor=False)


HookName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class WebhookTargetSettings(BaseModel):
    """One outbound webhook target (``COO_WEBHOOKS``): where to POST and the secret to sign with."""

    url: str = Field(pattern=r"^https?://[^\s/]+")
    secret: SecretStr = Field(min_length=16)


class InboundHookSettings(BaseModel):
    """One inbound webhook (``COO_HOOKS``), served at ``POST /hooks/<name>``."""

    secret: SecretStr = Field(min_length=16)
    kind: Literal["payment", "notice"] = "notice"


class Settings(BaseSettings):
    """Every knob of a deployment; all optional, with embedded defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    coo_data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    coo_model: str = "gpt-4o-mini"
    coo_cheap_model: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    smtp_url: SecretStr | None = None
    coo_email_from: str | None = None
    coo_undo_window_s: float = 60
    coo_calendar_ics: SecretStr | None = None  # an ICS feed URL (often secret) or file path, read-only
    coo_caldav_url: str | None = None  # a CalDAV calendar, or the server with COO_CALDAV_CALENDAR
    coo_caldav_username: str | None = None
    coo_caldav_password: SecretStr | None = None
    coo_caldav_calendar: str | None = None  # the calendar's name (display name or URL segment)
    coo_calendar_timeout_s: float = Field(default=15.0, gt=0)
    coo_operators: Annotated[list[str], NoDecode] = Field(default_factory=list)
    coo_timezone: str = "UTC"
    coo_currency: str = "USD"  # the books' currency: amounts in any other are refused, not converted
    coo_digest_time: str = "08:00"
    coo_digest_to: str | None = None
    coo_playbooks_to: str | None = None  # where scheduled playbook runs report (default COO_DIGEST_TO)
    coo_budget_daily_usd: float | None = None
    coo_budget_monthly_usd: float | None = None
    coo_prices_json: dict[str, Any] = Field(default_factory=dict)  # model → {input, output, cached_input} $/M
    coo_max_output_tokens: int = Field(default=1024, gt=0)
    coo_cheap_at: float = Field(default=0.8, ge=0)  # share of a cap after which the cheap model serves
    coo_cache_ttl_s: float = Field(default=30 * 24 * 3600, ge=0)  # 0: no response cache
    coo_intents: bool = True  # the rule-based model also understands plain lines near its commands
    # With a model: a request is routed to its agents by the intents, and offered only their tools
    coo_route_tools: bool = True
    coo_rules_first: bool = True  # with a model: a line the rules understand confidently skips the model
    coo_model_max_retries: int = Field(default=2, ge=0)
    coo_model_timeout_s: float = Field(default=60.0, gt=0)
    # A model on the operator's own machine or network (llama.cpp, Ollama, vLLM): free, fails fast (no
    # retries), and is sent ``max_tokens``. `coo doctor` suggests it when OPENAI_BASE_URL looks local.
    coo_model_local: bool = False
    # Per agent: which model endpoint plans for it, which queue runs its jobs, whether it is sensitive
    # (graph/placement.py): JSON, TOML, or a path to a .json/.toml file.
    coo_placement: str | None = None
    # The job queues this process's workers take (`coo worker --queues local`); empty: see bot/worker.py
    coo_worker_queues: Annotated[list[str], NoDecode] = Field(default_factory=list)
    coo_tiktoken_encoding: str | None = None  # e.g. o200k_base, where tiktoken can load it
    coo_history_turns: int = Field(default=10, ge=0)
    coo_approval_ttl_s: float = 7 * 24 * 3600
    coo_auto_amount_limit_usd: float = 100.0
    coo_hard_amount_limit_usd: float = 1_000_000.0
    coo_trust_streak: int = 10  # unchanged approvals in a row before coo offers auto (0: never offers)
    coo_max_input_chars: int = 8_000
    coo_max_steps: int = 25
    coo_rate_per_minute: int = 120
    coo_embeddings_model: str | None = None
    coo_embeddings_base_url: str | None = None
    coo_context_tokens: int = 3000
    coo_job_threads: int = Field(default=4, ge=1)  # worker threads per process
    coo_job_lease_s: float = Field(default=30.0, gt=0)  # a dead worker's job is taken over after this
    # A claim (an inbox delivery, a reply being posted) of a dead process is taken over within this
    coo_claim_lease_s: float = Field(default=30.0, gt=0)
    coo_engine_process: bool = False  # `coo serve`: Slack's engine work in a process of its own
    coo_job_tick_s: float = Field(default=1.0, gt=0)  # relay, heartbeat and scheduler interval
    coo_redis_namespace: str = "coo"  # prefix of the broker's Redis keys
    # Webhooks: {"crm": {"url": "https://…", "secret": "…"}}; {"stripe": {"secret": "…", "kind": "payment"}}
    coo_webhooks: dict[HookName, WebhookTargetSettings] = Field(default_factory=dict)
    coo_hooks: dict[HookName, InboundHookSettings] = Field(default_factory=dict)
    coo_hooks_to: str | None = None  # where inbound webhooks' cards go (default COO_DIGEST_TO)
    coo_webhook_retries: int = Field(default=5, ge=0)  # outbound: tries after the first, then a dead letter
    coo_webhook_backoff_s: float = Field(default=30.0, ge=0)  # first retry's wait; it doubles per attempt
    coo_fetch_allow_private: bool = False  # research may fetch private/loopback addresses (tests, intranets)
    # ... or only these networks (CIDRs, comma-separated), e.g. an intranet's
    coo_fetch_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    coo_fetch_max_bytes: int = Field(default=1_000_000, gt=0)  # a page's body is read up to this
    coo_fetch_timeout_s: float = Field(default=10.0, gt=0)  # connect and read timeouts of a fetch
    coo_research_retries: int = Field(default=2, ge=0)  # retries of a research job that could not connect
    port: int = 8080
    # The front door (`coo serve`): where it listens and what it tolerates from strangers.
    coo_host: str | None = None  # unset: 0.0.0.0 for `coo serve`, 127.0.0.1 for `coo run`
    coo_metrics_token: SecretStr | None = None  # when set, /metrics wants ``Authorization: Bearer <it>``
    coo_max_body_bytes: int = Field(default=1_000_000, gt=0)  # any route; larger bodies get 413
    coo_body_timeout_s: float = Field(default=10.0, gt=0)  # a body slower than this gets 408
    coo_header_timeout_s: float = Field(default=10.0, gt=0)  # a connection's request head must arrive in it
    coo_idle_timeout_s: float = Field(default=5.0, gt=0)  # an idle kept-alive connection is closed after it
    coo_max_connections_per_client: int = Field(default=50, gt=0)  # open at once from one address
    coo_refusal_period_s: float = Field(default=3600.0, ge=0)  # one refusal per non-operator per period
    coo_inbox_retention_s: float = Field(default=30 * 24 * 3600, gt=0)  # finished inbox rows kept this long
    otel_exporter_otlp_endpoint: str | None = None
    # The web console (/ui): where sign-in links point; unset: http://127.0.0.1:<PORT>.
    coo_public_url: str | None = None
    otel_service_name: str = "coo"

    @field_validator("coo_operators", "coo_fetch_allow_networks", "coo_worker_queues", mode="before")
    @classmethod
    def _split_operators(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("coo_placement")
    @classmethod
    def _readable_placement(cls, value: str | None) -> str | None:
        from graph.placement import parse_placement

        parse_placement(value)  # a ValueError says what is wrong, in one sentence
        return value

    @field_validator("coo_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        from agents.money import CODES

        if value.strip().upper() not in CODES:
            raise ValueError(
                f"COO_CURRENCY must be an ISO code such as USD or EUR, one of: {', '.join(sorted(CODES))}"
            )
        return value.strip().upper()

    @property
    def model_configured(self) -> bool:
        """Tell whether an OpenAI-compatible model is configured."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def model_local(self) -> bool:
        """Tell whether the model endpoint is local (COO_MODEL_LOCAL)."""
        return self.coo_model_local

    @property
    def model_url_looks_local(self) -> bool:
        """Tell whether OPENAI_BASE_URL's host is loopback, private or ``.local`` (a hint for doctor)."""
        if not self.openai_base_url:
            return False
        host = (urlsplit(self.openai_base_url).hostname or "").lower()
        if host in ("localhost", "host.docker.internal") or host.endswith((".local", ".localhost")):
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return ip.is_loopback or ip.is_private

    def placement(self) -> Placement:
        """Return COO_PLACEMENT read (an empty placement when unset).

        Raises:
            ValueError: It cannot be read, or does not describe a placement.
        """
        from graph.placement import parse_placement

        return parse_placement(self.coo_placement)

    @property
    def embeddings_configured(self) -> bool:
        """Tell whether an OpenAI-compatible embeddings model is configured (else the embedded one)."""
        return bool(self.coo_embeddings_model)

    @property
    def public_url(self) -> str:
        """Return the base URL the web console's sign-in links point at (COO_PUBLIC_URL, no trailing /)."""
        return (self.coo_public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def hooks_destination(self) -> str | None:
        """Return where inbound webhooks' proposals go: COO_HOOKS_TO, else COO_DIGEST_TO."""
        return self.coo_hooks_to or self.coo_digest_to

    @property
    def playbooks_destination(self) -> str | None:
        """Return where scheduled playbook runs report: COO_PLAYBOOKS_TO, else COO_DIGEST_TO."""
        return self.coo_playbooks_to or self.coo_digest_to

    def database(self) -> str:
        """Return the workspace database URL (SQLite under the data dir unless DATABASE_URL is set).

        Raises:
            DataDirUnwritable: The data dir (where the SQLite file goes) cannot be written.
        """
        if self.database_url:
            return self.database_url
        from memory.engines import ensure_data_dir

        ensure_data_dir(self.coo_data_dir)
        return f"sqlite:///{self.coo_data_dir / 'coo.sqlite'}"

    def channel_problems(self) -> list[str]:
        """Return what a half-configured channel lacks, one sentence each naming what to set."""
        problems = []
        if self.slack_bot_token is None and (self.slack_signing_secret or self.slack_app_token):
            given = "SLACK_SIGNING_SECRET" if self.slack_signing_secret else "SLACK_APP_TOKEN"
            problems.append(
                f"Slack is half set up: {given} is set without SLACK_BOT_TOKEN; set SLACK_BOT_TOKEN (xoxb-…)"
            )
        if self.slack_bot_token is not None and not (self.slack_signing_secret or self.slack_app_token):
            problems.append(
                "Slack is half set up: SLACK_BOT_TOKEN is set without a way to receive events; set "
                "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode, xapp-…)"
            )
        if self.telegram_bot_token is None and (self.telegram_webhook_secret or self.telegram_webhook_url):
            given = "TELEGRAM_WEBHOOK_URL" if self.telegram_webhook_url else "TELEGRAM_WEBHOOK_SECRET"
            problems.append(
                f"Telegram is half set up: {given} is set without TELEGRAM_BOT_TOKEN; set TELEGRAM_BOT_TOKEN "
                "(from @BotFather)"
            )
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            problems.append(
                "Telegram is half set up: TELEGRAM_WEBHOOK_URL is set without TELEGRAM_WEBHOOK_SECRET; set "
                "TELEGRAM_WEBHOOK_SECRET (any random string), or unset the URL to poll instead"
            )
        if (self.slack_bot_token or self.telegram_bot_token) and not self.coo_operators:
            problems.append(
                "COO_OPERATORS is empty, so nobody in Slack or Telegram may talk to coo; set it, e.g. "
                "COO_OPERATORS=slack:U0123ABCD,telegram:123456789"
            )
        return problems


def secret_values(settings: Settings) -> list[str]:
    """Return every secret configured, to be masked wherever text is stored or logged."""
    out = []
    for name, value in settings:
        if isinstance(value, SecretStr):
            out.append(value.get_secret_value())
        elif isinstance(value, dict):  # named entries with their own secrets (COO_WEBHOOKS, COO_HOOKS)
            out += [
                v.get_secret_value()
                for entry in value.values()
                if isinstance(entry, BaseModel)
                for _, v in entry
                if isinstance(v, SecretStr)
            ]
        elif name == "coo_placement" and value:  # endpoints' own keys
            out += [
                e.api_key.get_secret_value() for e in settings.placement().endpoints.values() if e.api_key
            ]
        elif name in ("database_url", "redis_url") and value and "@" in str(value):
            userinfo = str(value).split("://", 1)[-1].rsplit("@", 1)[0]
            if ":" in userinfo:
                out.append(userinfo.split(":", 1)[1])  # the password part of a URL
    return out
