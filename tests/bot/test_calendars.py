"""Calendar settings become the agent's configuration; `coo doctor` reads the calendar and says what to fix."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from bot.calendars import build_calendar, check_calendar
from tests.conftest import make_settings
from tests.fakes.radicale_server import radicale_with_calendar
from tests.fakes.smtp_server import free_port


def test_no_calendar_settings_no_calendar(tmp_path: Path):
    s = make_settings(tmp_path)
    with ExitStack() as stack:
        assert build_calendar(s, stack) is None
    assert check_calendar(s) is None


def test_ics_only_is_read_only_and_caldav_writes(tmp_path: Path):
    feed = tmp_path / "f.ics"
    feed.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nEND:VCALENDAR\n")
    with ExitStack() as stack:
        ics = build_calendar(make_settings(tmp_path, coo_calendar_ics=str(feed)), stack)
        assert ics is not None and ics.writer is None and len(ics.readers) == 1
        both = build_calendar(
            make_settings(tmp_path, coo_calendar_ics=str(feed), coo_caldav_url="http://127.0.0.1:1/"), stack
        )
        assert both is not None and both.writer is both.readers[1] and len(both.readers) == 2


def test_doctor_reads_the_calendar_and_says_what_to_fix(tmp_path: Path):
    with radicale_with_calendar(tmp_path / "r") as server:
        common = {
            "coo_caldav_url": server.url + "/",
            "coo_caldav_username": "dana",
            "coo_caldav_calendar": "Work",
        }
        good = check_calendar(make_settings(tmp_path, coo_caldav_password="s3cret", **common))
        assert good is not None and good.ok
        assert good.detail == f"{server.url}: 0 event(s) in the next 7 days"
        bad = check_calendar(make_settings(tmp_path, coo_caldav_password="nope", **common))
        assert bad is not None and not bad.ok and "refused the login" in bad.detail
        assert "COO_CALDAV_PASSWORD" in bad.fix and "nope" not in bad.detail
    down = check_calendar(make_settings(tmp_path, coo_calendar_ics=f"http://127.0.0.1:{free_port()}/x.ics"))
    assert down is not None and not down.ok and down.detail.startswith("Could not reach the calendar feed")


def test_calendar_secrets_are_masked(tmp_path: Path):
    from bot.app import secret_values

    s = make_settings(
        tmp_path,
        coo_calendar_ics="https://cal.example/private-abc123/basic.ics",
        coo_caldav_url="https://dav.example/",
        coo_caldav_password="hunter2",
    )
    assert {"https://cal.example/private-abc123/basic.ics", "hunter2"} <= set(secret_values(s))
