"""Build the calendar agent's configuration from settings (its doctor check and digest section: its spec).

``COO_CALENDAR_ICS`` (a URL or a file path) is read-only; ``COO_CALDAV_URL`` (with
``COO_CALDAV_USERNAME``, ``COO_CALDAV_PASSWORD`` and optionally ``COO_CALDAV_CALENDAR``) is read
and written. Either, both or neither may be set; with neither, the calendar agent is not registered.
"""

from __future__ import annotations

from contextlib import ExitStack
from zoneinfo import ZoneInfo

import httpx
from caldav.davclient import DAVClient

from agents.calendar import CalendarConfig, doctor_check
from agents.spec import Finding
from bot.settings import Settings
from connectors.calendar import CalDavCalendar, CalendarReader, IcsFeed


def build_calendar(settings: Settings, stack: ExitStack) -> CalendarConfig | None:
    """Return the calendar configuration (its clients closed with ``stack``), or None when none is set."""
    tz = ZoneInfo(settings.coo_timezone)
    readers: list[CalendarReader] = []
    writer: CalDavCalendar | None = None
    if settings.coo_calendar_ics:
        client = stack.enter_context(
            httpx.Client(timeout=settings.coo_calendar_timeout_s, follow_redirects=True)
        )
        readers.append(IcsFeed(settings.coo_calendar_ics.get_secret_value(), tz, client))
    if settings.coo_caldav_url:
        password = settings.coo_caldav_password
        dav = DAVClient(
            url=settings.coo_caldav_url,
            username=settings.coo_caldav_username,
            password=password.get_secret_value() if password else None,
            timeout=int(settings.coo_calendar_timeout_s),
        )
        stack.callback(dav.close)
        writer = CalDavCalendar(dav, tz, settings.coo_caldav_calendar or None)
        readers.append(writer)
    if not readers:
        return None
    return CalendarConfig(readers=tuple(readers), writer=writer, tz=tz)


def check_calendar(settings: Settings) -> Finding | None:
    """Read the next week of every configured calendar (``coo doctor``); None when none is set."""
    with ExitStack() as stack:
        config = build_calendar(settings, stack)
        if config is None:
            return None
        return doctor_check(config)
