"""Calendars: an ICS feed (a URL or a file) to read, and a CalDAV calendar to read and write.

Reading expands recurrences (``recurring-ical-events``) inside a window and returns every event in
the operator's time zone: an event with a TZID or in UTC is converted, a floating time is taken as
the operator's local time, and an all-day event starts at local midnight (``all_day`` is set).

Writing (CalDAV only) is idempotent by the action's key: the event's UID is derived from the key and
is also its resource name, so a second create with the same key finds the first event (looked up by
UID first; the PUT is conditional, so a racing second create is refused by the server, not doubled).
Its compensation is a delete by UID. The HTTP client of a feed and the CalDAV client are injected,
so tests point them at loopback servers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import httpx
import icalendar
import recurring_ical_events
from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from connectors.errors import CalendarInvalid, CalendarUnavailable

MAX_FEED_BYTES = 10 * 1024 * 1024  # a feed larger than this is refused, not read into memory


@dataclass(frozen=True)
class CalendarEvent:
    """One occurrence of an event, in the operator's time zone."""

    uid: str
    title: str
    start: datetime
    end: datetime
    all_day: bool = False
    location: str = ""


@dataclass(frozen=True)
class NewEvent:
    """An event to create; ``start`` and ``end`` are aware datetimes."""

    title: str
    start: datetime
    end: datetime
    location: str = ""
    attendees: Sequence[str] = ()


@dataclass(frozen=True)
class CreatedEvent:
    """Where a created event lives; ``created`` is False when the key had already made it."""

    uid: str
    url: str
    created: bool


class CalendarReader(Protocol):
    """Anything events can be read from."""

    where: str

    def events(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        """Return the occurrences that overlap ``[start, end)``, sorted by start."""
        ...


def where(url: str) -> str:
    """Return a URL safe to show: scheme and host only (feed URLs often carry a secret in the path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def event_uid(key: str) -> str:
    """Return the UID (and resource name) of the event an idempotency key creates."""
    return f"{key}@coo"


def _local(value: date | datetime, tz: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tz)
    if value.tzinfo is None:  # a floating time: the operator's wall clock
        return value.replace(tzinfo=tz)
    return value.astimezone(tz)


def _one_line(value: Any, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _occurrence(comp: Any, tz: tzinfo) -> CalendarEvent:
    raw_start = comp.get("DTSTART").dt
    all_day = not isinstance(raw_start, datetime)
    start = _local(raw_start, tz)
    if comp.get("DTEND") is not None:
        end = _local(comp.get("DTEND").dt, tz)
    elif comp.get("DURATION") is not None:
        end = start + comp.get("DURATION").dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    return CalendarEvent(
        uid=str(comp.get("UID", "")),
        title=_one_line(comp.get("SUMMARY"), 200) or "(no title)",
        start=start,
        end=end,
        all_day=all_day,
        location=_one_line(comp.get("LOCATION"), 200),
    )


def expand(ics: bytes | str, start: datetime, end: datetime, tz: tzinfo) -> list[CalendarEvent]:
    """Return the event occurrences of an iCalendar text that overlap ``[start, end)``.

    Raises:
        CalendarInvalid: The text is not iCalendar (or has a recurrence rule that cannot be read).
    """
    try:
        cal = icalendar.Calendar.from_ical(ics)
        found = recurring_ical_events.of(cal, components=["VEVENT"]).between(start, end)
        out = [_occurrence(c, tz) for c in found if str(c.get("STATUS", "")).upper() != "CANCELLED"]
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise CalendarInvalid(f"The calendar is not valid iCalendar ({type(exc).__name__}).") from None
    return sorted(out, key=lambda e: (e.start, e.title))


class IcsFeed:
    """A read-only calendar: an ICS file, or a URL fetched with an injected httpx client."""

    def __init__(self, source: str, tz: tzinfo, client: httpx.Client | None = None) -> None:
        self.source = source.strip()
        if self.source.startswith("webcal://"):
            self.source = "https://" + self.source.removeprefix("webcal://")
        self.is_url = self.source.startswith(("http://", "https://"))
        self.where = where(self.source) if self.is_url else self.source.removeprefix("file://")
        self.tz = tz
        self._client = client

    def events(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        """Fetch the feed and return its occurrences in ``[start, end)``.

        Raises:
            CalendarUnavailable: The file or URL could not be read.
            CalendarInvalid: It is not iCalendar, or too large.
        """
        return expand(self._fetch(), start, end, self.tz)

    def _fetch(self) -> bytes:
        if not self.is_url:
            path = Path(self.where).expanduser()
            try:
                if path.stat().st_size > MAX_FEED_BYTES:
                    raise CalendarInvalid(f"The calendar file {path} is larger than {MAX_FEED_BYTES} bytes.")
                return path.read_bytes()
            except OSError as exc:
                raise CalendarUnavailable(
                    f"Could not read the calendar file {path} ({exc.strerror or type(exc).__name__})."
                ) from None
        if self._client is None:
            raise CalendarUnavailable("No HTTP client was given to fetch the calendar feed.")
        try:
            with self._client.stream("GET", self.source) as response:
                response.raise_for_status()
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        raise CalendarInvalid(f"The calendar feed at {self.where} is too large.")
                return bytes(body)
        except httpx.HTTPStatusError as exc:
            raise CalendarUnavailable(
                f"The calendar feed at {self.where} answered HTTP {exc.response.status_code}."
            ) from None
        except httpx.HTTPError as exc:
            raise CalendarUnavailable(
                f"Could not reach the calendar feed at {self.where} ({type(exc).__name__})."
            ) from None


def build_ics(new: NewEvent, uid: str, stamp: datetime) -> str:
    """Return the VCALENDAR text of a new event (with the VTIMEZONE its times need)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//coo//calendar//EN")
    cal.add("version", "2.0")
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("dtstamp", stamp.astimezone(UTC))
    ev.add("dtstart", new.start)
    ev.add("dtend", new.end)
    ev.add("summary", new.title)
    if new.location:
        ev.add("location", new.location)
    for address in new.attendees:
        ev.add("attendee", f"mailto:{address}")
    cal.add_component(ev)
    cal.add_missing_timezones()
    return str(cal.to_ical().decode())


class CalDavCalendar:
    """One calendar on a CalDAV server, through an injected ``DAVClient``.

    With a ``name``, the calendar is looked up among the login's calendars (by display name or the
    last segment of its URL); without one, the client's URL is the calendar itself. It is resolved
    on first use, so a server that is down at start-up breaks nothing until it is needed.
    """

    def __init__(self, client: DAVClient, tz: tzinfo, name: str | None = None) -> None:
        self._client = client
        self.tz = tz
        self.name = name
        self.where = where(str(client.url))
        self._cal: DavCalendar | None = None

    @contextmanager
    def _dav(self, doing: str) -> Iterator[None]:
        try:
            yield
        except dav_error.AuthorizationError:
            raise CalendarUnavailable(f"The CalDAV server at {self.where} refused the login.") from None
        except dav_error.NotFoundError:
            raise CalendarInvalid(f"The CalDAV server at {self.where} has no such calendar.") from None
        except dav_error.DAVError as exc:
            raise CalendarUnavailable(
                f"The CalDAV server at {self.where} failed to {doing} ({type(exc).__name__})."
            ) from None
        except OSError as exc:  # the HTTP library's connection errors are OSErrors
            raise CalendarUnavailable(
                f"Could not reach the CalDAV server at {self.where} ({type(exc).__name__})."
            ) from None

    def calendar(self) -> DavCalendar:
        """Return the calendar, resolving it on first use.

        Raises:
            CalendarInvalid: No calendar has that name.
            CalendarUnavailable: The server could not be reached or refused the login.
        """
        if self._cal is not None:
            return self._cal
        with self._dav("list the calendars"):
            if self.name is None:
                self._cal = self._client.calendar(url=self._client.url)
            else:
                found = self._client.principal().calendars()
                for cal in found:
                    last = str(cal.url).rstrip("/").rsplit("/", 1)[-1]
                    if self.name in (cal.get_display_name(), last):
                        self._cal = cal
                        break
                else:
                    names = ", ".join(sorted(str(c.get_display_name() or c.url) for c in found)) or "none"
                    raise CalendarInvalid(
                        f"There is no calendar named {self.name!r} at {self.where} (found: {names})."
                    )
        assert self._cal is not None
        return self._cal

    def events(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        """Return the occurrences in ``[start, end)`` (recurrences expanded here, not by the server)."""
        cal = self.calendar()
        with self._dav("search the calendar"):
            found = cast(list[Any], cal.search(start=start, end=end, event=True))
            texts = [str(obj.data) for obj in found]
        out = [e for text in texts for e in expand(text, start, end, self.tz)]
        return sorted(out, key=lambda e: (e.start, e.title))

    def _find(self, uid: str) -> Any | None:
        cal = self.calendar()
        with self._dav("look the event up"):
            try:
                return cal.event_by_uid(uid)
            except dav_error.NotFoundError:
                return None

    def get(self, uid: str) -> CalendarEvent | None:
        """Return the event with this UID (its first occurrence), or None when there is none."""
        obj = self._find(uid)
        if obj is None:
            return None
        ical = icalendar.Calendar.from_ical(str(obj.data))
        return next((_occurrence(c, self.tz) for c in ical.walk("VEVENT")), None)

    def create(self, new: NewEvent, key: str, stamp: datetime) -> CreatedEvent:
        """Create the event for an idempotency key, once: a second call finds the first event."""
        uid = event_uid(key)
        existing = self._find(uid)
        if existing is not None:
            return CreatedEvent(uid=uid, url=str(existing.url), created=False)
        cal = self.calendar()
        try:
            with self._dav("create the event"):
                obj = cast(Any, cal.add_event(build_ics(new, uid, stamp), no_overwrite=True))
        except CalendarUnavailable:
            # A racing create with the same key got there first: the server refused to overwrite it.
            again = self._find(uid)
            if again is None:
                raise
            return CreatedEvent(uid=uid, url=str(again.url), created=False)
        return CreatedEvent(uid=uid, url=str(obj.url), created=True)

    def delete(self, uid: str) -> bool:
        """Delete the event with this UID; return False when it was already gone."""
        obj = self._find(uid)
        if obj is None:
            return False
        with self._dav("delete the event"):
            obj.delete()
        return True
