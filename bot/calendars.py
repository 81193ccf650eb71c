"""Build the calendar agent's configuration from settings, and the digest's view of the calendar.

``COO_CALENDAR_ICS`` (a URL or a file path) is read-only; ``COO_CALDAV_URL`` (with
``COO_CALDAV_USERNAME``, ``COO_CALDAV_PASSWORD`` and optionally ``COO_CALDAV_CALENDAR``) is read
and written. Either, both or neither may be set; with neither, the calendar agent is not registered.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from caldav.davclient import DAVClient

from agents.calendar import CalendarConfig, event_line, read_all
from agents.spec import Finding
from bot.settings import Settings
from connectors.calendar import CalDavCalendar, CalendarReader, IcsFeed
from connectors.errors import CalendarUnavailable


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


def digest_calendar(config: CalendarConfig | None) -> Callable[[datetime, datetime], list[str]] | None:
    """Return the digest's calendar lines for a window, or None when no calendar is configured.

    The lines raise ``CalendarUnavailable`` when no calendar could be read; when only some could,
    the others' events are listed with a line saying which could not be read.
    """
    if config is None:
        return None

    def lines(start: datetime, end: datetime) -> list[str]:
        events, failed = read_all(config, start, end)
        if failed and len(failed) == len(config.readers):
            raise CalendarUnavailable(failed[0])
        first = start.astimezone(config.tz)
        return [event_line(e, first) for e in events] + [f"could not read: {msg}" for msg in failed]

    return lines


def check_calendar(settings: Settings) -> Finding | None:
    """Read the next week of every configured calendar (``coo doctor``); None when none is set."""
    with ExitStack() as stack:
        config = build_calendar(settings, stack)
        if config is None:
            return None
        now = datetime.now(config.tz)
        events, failed = read_all(config, now, now + timedelta(days=7))
    if failed:
        return Finding(
            "calendar",
            False,
            "; ".join(failed),
            "check COO_CALENDAR_ICS, or COO_CALDAV_URL, COO_CALDAV_USERNAME, COO_CALDAV_PASSWORD and COO_CALDAV_CALENDAR",
        )
    kinds = " and ".join(r.where for r in config.readers)
    return Finding("calendar", True, f"{kinds}: {len(events)} event(s) in the next 7 days")
