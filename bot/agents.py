"""The agents' side of the composition root: their typed configs from settings, and the shared deps.

``bot/app.py`` builds every agent's spec in a loop (``agents.catalog.build_specs``) from one ``Deps``
bundle and the configs returned here; an agent that needs no settings needs no line here.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from agents.calendar import CalendarConfig
from agents.jobkind import Retry
from agents.outreach import OutreachConfig
from agents.research import ResearchConfig
from bot.research import address_policy, fetch_limits
from bot.settings import Settings
from bot.webhooks import webhooks_config
from connectors.email import Mailer, parse_smtp_url


def build_mailer(settings: Settings) -> Mailer | None:
    """Return the SMTP mailer, or None when SMTP_URL or COO_EMAIL_FROM is missing."""
    if not settings.smtp_url or not settings.coo_email_from:
        return None
    return Mailer(parse_smtp_url(settings.smtp_url.get_secret_value()), settings.coo_email_from)


def outreach_config(settings: Settings) -> OutreachConfig:
    """Return how outbound email behaves (the undo window, whether email is set up)."""
    return OutreachConfig(
        undo_window_s=settings.coo_undo_window_s,
        email_ready=bool(settings.smtp_url and settings.coo_email_from),
        tz=ZoneInfo(settings.coo_timezone),
        mailer=build_mailer(settings),
    )


def research_config(settings: Settings) -> ResearchConfig:
    """Return how research reads pages (COO_RESEARCH_RETRIES, COO_FETCH_*)."""
    return ResearchConfig(
        retry=Retry(max_retries=settings.coo_research_retries, backoff_s=10.0),
        addresses=address_policy(settings),
        limits=fetch_limits(settings),
    )


def agent_configs(settings: Settings, calendar: CalendarConfig | None) -> dict[str, Any]:
    """Return each agent's typed config by name (an agent missing here gets its defaults)."""
    return {
        "outreach": outreach_config(settings),
        "research": research_config(settings),
        "calendar": calendar,
        "webhooks": webhooks_config(settings),
    }
