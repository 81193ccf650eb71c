"""The calendar connector: an ICS file and the same feed over loopback HTTP (recurrences, all-day
events, time zones, in the operator's zone), and a real CalDAV server (Radicale) read and written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from caldav.davclient import DAVClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.calendar import CalDavCalendar, IcsFeed, NewEvent, event_uid, expand
from connectors.errors import CalendarInvalid, CalendarUnavailable
from tests.fakes.radicale_server import Radicale, radicale_server
from tests.fakes.server import serve
from tests.fakes.smtp_server import free_port

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

# A weekly stand-up at 10:00 Berlin time across the end of summer time (25 Oct 2026), an all-day
# offsite, a call fixed in New York time, one in UTC, one floating (the operator's wall clock), one
# cancelled, and one outside the window.
FEED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//calendar//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:standup@test
DTSTAMP:20261001T000000Z
DTSTART;TZID=Europe/Berlin:20261014T100000
DTEND;TZID=Europe/Berlin:20261014T101500
RRULE:FREQ=WEEKLY;COUNT=8
SUMMARY:Stand-up
LOCATION:Zoom
END:VEVENT
BEGIN:VEVENT
UID:offsite@test
DTSTAMP:20261001T000000Z
DTSTART;VALUE=DATE:20261027
DTEND;VALUE=DATE:20261029
SUMMARY:Offsite
END:VEVENT
BEGIN:VEVENT
UID:ny@test
DTSTAMP:20261001T000000Z
DTSTART;TZID=America/New_York:20261026T090000
DURATION:PT30M
SUMMARY:Call with the NY office
END:VEVENT
BEGIN:VEVENT
UID:utc@test
DTSTAMP:20261001T000000Z
DTSTART:20261023T120000Z
DTEND:20261023T130000Z
SUMMARY:Lunch
END:VEVENT
BEGIN:VEVENT
UID:floating@test
DTSTAMP:20261001T000000Z
DTSTART:20261024T080000
DTEND:20261024T090000
SUMMARY:Run
END:VEVENT
BEGIN:VEVENT
UID:cancelled@test
DTSTAMP:20261001T000000Z
DTSTART:20261023T150000Z
DTEND:20261023T160000Z
STATUS:CANCELLED
SUMMARY:Cancelled thing
END:VEVENT
BEGIN:VEVENT
UID:later@test
DTSTAMP:20261001T000000Z
DTSTART:20261201T090000Z
DTEND:20261201T100000Z
SUMMARY:Too late for the window
END:VEVENT
END:VCALENDAR
"""

WINDOW = (datetime(2026, 10, 21, tzinfo=BERLIN), datetime(2026, 10, 29, tzinfo=BERLIN))
EXPECTED = [
    # (title, local start, local end, all day)
    ("Stand-up", datetime(2026, 10, 21, 10, 0), datetime(2026, 10, 21, 10, 15), False),
    ("Lunch", datetime(2026, 10, 23, 14, 0), datetime(2026, 10, 23, 15, 0), False),  # 12:00Z, CEST
    ("Run", datetime(2026, 10, 24, 8, 0), datetime(2026, 10, 24, 9, 0), False),  # floating
    ("Call with the NY office", datetime(2026, 10, 26, 14, 0), datetime(2026, 10, 26, 14, 30), False),
    ("Offsite", datetime(2026, 10, 27, 0, 0), datetime(2026, 10, 29, 0, 0), True),
    ("Stand-up", datetime(2026, 10, 28, 10, 0), datetime(2026, 10, 28, 10, 15), False),  # CET now
]


def as_rows(events):
    return [(e.title, e.start.replace(tzinfo=None), e.end.replace(tzinfo=None), e.all_day) for e in events]


def test_an_ics_file_is_read_for_a_window_in_the_operators_zone(tmp_path: Path):
    path = tmp_path / "feed.ics"
    path.write_text(FEED)
    events = IcsFeed(str(path), BERLIN).events(*WINDOW)
    assert as_rows(events) == EXPECTED
    assert all(e.start.tzinfo is BERLIN for e in events)
    # The stand-up keeps 10:00 local across the change of offset: +02:00 before, +01:00 after.
    standups = [e for e in events if e.title == "Stand-up"]
    assert [e.start.utcoffset() for e in standups] == [timedelta(hours=2), timedelta(hours=1)]
    assert standups[0].location == "Zoom" and standups[0].uid == "standup@test"
    # In another operator zone the same feed shows other wall-clock times.
    [lunch] = [e for e in IcsFeed(str(path), NEW_YORK).events(*WINDOW) if e.title == "Lunch"]
    assert lunch.start.replace(tzinfo=None) == datetime(2026, 10, 23, 8, 0)


def test_a_missing_or_broken_file_gives_a_clear_error(tmp_path: Path):
    with pytest.raises(CalendarUnavailable, match=r"Could not read the calendar file .*nope\.ics"):
        IcsFeed(str(tmp_path / "nope.ics"), BERLIN).events(*WINDOW)
    bad = tmp_path / "bad.ics"
    bad.write_text("this is not a calendar")
    with pytest.raises(CalendarInvalid, match="not valid iCalendar"):
        IcsFeed(str(bad), BERLIN).events(*WINDOW)


@pytest.fixture
def feed_server() -> Iterator[tuple[str, list[str]]]:
    """Serve the feed at /secret-token/basic.ics, a 404 elsewhere, and HTML at /html; record paths."""
    seen: list[str] = []

    async def ics(request: Request) -> Response:
        seen.append(request.url.path)
        return Response(FEED, media_type="text/calendar")

    async def html(request: Request) -> Response:
        return Response("<html>not a calendar</html>", media_type="text/html")

    app = Starlette(routes=[Route("/secret-token/basic.ics", ics), Route("/html", html)])
    with serve(app) as url:
        yield url, seen


def test_the_same_feed_over_http(feed_server):
    url, seen = feed_server
    with httpx.Client(timeout=5) as client:
        events = IcsFeed(f"{url}/secret-token/basic.ics", BERLIN, client).events(*WINDOW)
        assert as_rows(events) == EXPECTED
        assert seen == ["/secret-token/basic.ics"]
        # Errors name the host, never the secret path of the feed.
        with pytest.raises(CalendarUnavailable, match=r"answered HTTP 404") as missing:
            IcsFeed(f"{url}/secret-token/other.ics", BERLIN, client).events(*WINDOW)
        assert "secret-token" not in str(missing.value) and url in str(missing.value)
        with pytest.raises(CalendarInvalid):
            IcsFeed(f"{url}/html", BERLIN, client).events(*WINDOW)
        closed = f"http://127.0.0.1:{free_port()}/secret-token/basic.ics"
        with pytest.raises(
            CalendarUnavailable, match=r"Could not reach the calendar feed at http://127\.0\.0\.1"
        ):
            IcsFeed(closed, BERLIN, client).events(*WINDOW)


def test_expand_reads_a_recurring_all_day_event():
    ics = FEED.replace(
        "DTSTART;VALUE=DATE:20261027\nDTEND;VALUE=DATE:20261029",
        "DTSTART;VALUE=DATE:20261027\nRRULE:FREQ=DAILY;COUNT=3",
    )
    days = [e for e in expand(ics, *WINDOW, BERLIN) if e.title == "Offsite"]
    assert [(e.start.day, e.end.day, e.all_day) for e in days] == [(27, 28, True), (28, 29, True)]


# ---- CalDAV against a real server ----------------------------------------------------------------


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with radicale_server(tmp_path / "radicale") as server:
        yield server


@pytest.fixture
def dav(radicale: Radicale) -> Iterator[DAVClient]:
    client = DAVClient(url=radicale.url + "/", username=radicale.username, password=radicale.password)
    client.principal().make_calendar(name="Work", cal_id="work")
    yield client
    client.close()


def test_caldav_create_list_get_and_delete(dav: DAVClient):
    cal = CalDavCalendar(dav, BERLIN, "Work")
    start = datetime(2026, 12, 3, 14, 0, tzinfo=BERLIN)
    new = NewEvent("Call with Dana", start, start + timedelta(minutes=45), "Room 1", ("dana@example.org",))
    made = cal.create(new, "act_1", stamp=datetime(2026, 12, 1, tzinfo=UTC))
    assert made.created and made.uid == event_uid("act_1") and made.url.endswith(".ics")

    [listed] = cal.events(datetime(2026, 12, 1, tzinfo=BERLIN), datetime(2026, 12, 8, tzinfo=BERLIN))
    assert (listed.title, listed.start, listed.end, listed.location) == (
        "Call with Dana",
        start,
        start + timedelta(minutes=45),
        "Room 1",
    )
    assert listed.start.tzinfo is BERLIN and listed.uid == made.uid
    assert cal.events(datetime(2026, 12, 4, tzinfo=BERLIN), datetime(2026, 12, 8, tzinfo=BERLIN)) == []
    # The server stored the time in Berlin time, with its VTIMEZONE.
    raw = str(cal.calendar().event_by_uid(made.uid).data)
    assert "DTSTART;TZID=Europe/Berlin:20261203T140000" in raw and "BEGIN:VTIMEZONE" in raw
    assert "mailto:dana@example.org" in raw

    assert cal.delete(made.uid) is True
    assert cal.get(made.uid) is None
    assert cal.delete(made.uid) is False  # gone already: nothing to do, no error


def test_caldav_recurring_event_is_expanded(dav: DAVClient):
    cal = CalDavCalendar(dav, BERLIN, "work")  # the URL segment names it too
    header, standup, *_ = FEED.split("BEGIN:VEVENT")
    cal.calendar().add_event(f"{header}BEGIN:VEVENT{standup}END:VCALENDAR\n")  # the zone and the stand-up
    events = cal.events(*WINDOW)
    assert [(e.title, e.start.replace(tzinfo=None)) for e in events] == [
        ("Stand-up", datetime(2026, 10, 21, 10, 0)),
        ("Stand-up", datetime(2026, 10, 28, 10, 0)),
    ]


def test_caldav_by_url_without_a_name(radicale: Radicale, dav: DAVClient):
    with DAVClient(url=radicale.user_url + "work/", username="dana", password="s3cret") as direct:
        cal = CalDavCalendar(direct, BERLIN)
        start = datetime(2026, 12, 3, 9, 0, tzinfo=BERLIN)
        cal.create(NewEvent("Direct", start, start + timedelta(hours=1)), "act_2", stamp=start)
    [e] = CalDavCalendar(dav, BERLIN, "Work").events(start, start + timedelta(days=1))
    assert e.title == "Direct"


def test_caldav_errors_are_clear(radicale: Radicale, dav: DAVClient):
    window = (datetime(2026, 12, 1, tzinfo=BERLIN), datetime(2026, 12, 2, tzinfo=BERLIN))
    with pytest.raises(CalendarInvalid, match=r"There is no calendar named 'Home' .*\(found: Work\)"):
        CalDavCalendar(dav, BERLIN, "Home").events(*window)
    with DAVClient(url=radicale.url + "/", username="dana", password="wrong") as bad_login:
        with pytest.raises(CalendarUnavailable, match="refused the login"):
            CalDavCalendar(bad_login, BERLIN, "Work").events(*window)
    closed = f"http://127.0.0.1:{free_port()}/"
    with DAVClient(url=closed, username="dana", password="s3cret") as down:
        with pytest.raises(
            CalendarUnavailable, match=r"Could not reach the CalDAV server at http://127\.0\.0\.1:\d+"
        ):
            CalDavCalendar(down, BERLIN, "Work").events(*window)
