"""Due dates as people type them at the end (or start) of a task: ``call Priya tomorrow``.

``parse_due`` understands ``today``, ``tonight``, ``tomorrow``, ``the day after tomorrow``, ``in 3 days``,
a weekday (``friday``: today when today is Friday; ``next fri``: a week later), an ISO date (``2026-12-10``), each optionally after ``on``/``by``/``due`` and optionally with a time
(``at 15:00``, ``3pm``, ``9:30am``, ``noon``). Days and times are wall-clock in the operator's zone
(``COO_TIMEZONE``). A phrase that looks like a date but is not one (``2026-02-30``, ``25:00``) is refused,
never guessed.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from agents.errors import Refusal

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = (
    r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:r|rs|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?"
)
_DAY = rf"(?P<day>(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw)|in\s+(?P<in_days>\d{{1,3}}|a|one|two|three)\s+(?P<unit>days?|weeks?)|today|tonight|tomorrow|tmrw|(?P<next>next\s+)?(?P<weekday>{_DAY_NAMES})|(?P<iso>\d{{4}}-\d{{1,2}}-\d{{1,2}}))"
_TIME = r"(?P<time>noon|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2})"
_DAY_PHRASE = rf"(?:(?:on|by|due|due\s+on|due\s+by)\s+)?{_DAY}"
_PHRASE = rf"{_DAY_PHRASE}(?:\s+(?:at\s+)?{_TIME})?"
_AT_END = re.compile(rf"\s+{_PHRASE}\s*[.!]?$", re.I)
_AT_START = re.compile(rf"^{_PHRASE}[,:]?\s+", re.I)
_TIME_FIRST_END = re.compile(rf"\s+at\s+{_TIME}\s+{_DAY_PHRASE}\s*[.!]?$", re.I)
ALL_DAY_REMINDER = time(9, 0)  # an all-day task is reminded of at 09:00 on its day


class DateError(Refusal):
    """A due date that looks like one but is not; the message says what to type."""


def _weekday(name: str) -> int:
    return next(i for i, d in enumerate(WEEKDAYS) if d.startswith(name.lower()[:3]))


def _clock(text: str) -> time:
    t = text.lower().replace(" ", "")
    if t == "noon":
        return time(12, 0)
    if t == "midnight":
        return time(0, 0)
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", t)
    assert m is not None  # the pattern admits only these shapes
    hour, minute, half = int(m[1]), int(m[2] or 0), m[3]
    if half:
        if not 1 <= hour <= 12:
            raise DateError(f"{text!r} is not a time; type it like 3pm or 15:00.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise DateError(f"{text!r} is not a time; type it like 3pm or 15:00.")
    return time(hour, minute)


_COUNTS = {"a": 1, "one": 1, "two": 2, "three": 3}


def _day(m: re.Match[str], today: date) -> date:
    word = " ".join(m["day"].lower().split())
    if word.endswith("day after tomorrow") or word.endswith("day after tmrw"):
        return today + timedelta(days=2)
    if m["in_days"]:
        n = _COUNTS.get(m["in_days"].lower()) or int(m["in_days"])
        return today + timedelta(days=n * (7 if m["unit"].lower().startswith("week") else 1))
    if word in ("today", "tonight"):
        return today
    if word in ("tomorrow", "tmrw"):
        return today + timedelta(days=1)
    if m["iso"]:
        try:
            return date.fromisoformat("-".join(p.zfill(2) for p in m["iso"].split("-")))
        except ValueError:
            raise DateError(f"{m['iso']!r} is not a date; type it like 2026-12-10.") from None
    ahead = (_weekday(m["weekday"]) - today.weekday()) % 7  # today's weekday name: today
    return today + timedelta(days=ahead + (7 if m["next"] else 0))


_DAY_ANYWHERE = re.compile(rf"\b(?:on\s+|this\s+)?{_DAY}\b", re.I)


def find_day(text: str, today: date) -> tuple[date | None, re.Match[str] | None]:
    """Find the first day phrase anywhere in a line (``lunch friday at noon``), as ``parse_due`` reads days.

    Returns:
        ``(day, match)``, or ``(None, None)`` when the line names no day.

    Raises:
        DateError: The phrase looks like a date but is not one (``2026-02-30``).
    """
    m = _DAY_ANYWHERE.search(text)
    if m is None:
        return None, None
    return _day(m, today), m


def parse_due(text: str, now: datetime, tz: tzinfo) -> tuple[datetime | None, bool, str]:
    """Take a due date off the end (or the start) of a task's text.

    Args:
        text: ``"call Priya tomorrow"``, ``"send the deck friday 3pm"``, ``"renew on 2026-12-10"``.
        now: The current time (aware).
        tz: The operator's time zone: days and times are wall-clock there.

    Returns:
        ``(due, all_day, rest)``: the due time (aware, in ``tz``; an all-day task's is its day's
        00:00), whether no time was given, and the text without the phrase. ``(None, False, text)``
        when there is no due date.

    Raises:
        DateError: The phrase looks like a date or time but is not one (``2026-02-30``, ``25:00``).
    """
    stripped = text.strip()
    for pattern in (_TIME_FIRST_END, _AT_END, _AT_START):
        m = pattern.search(stripped)
        if m is None:
            continue
        rest = (stripped[: m.start()] + stripped[m.end() :]).strip()
        if not rest:
            continue  # "task friday": the whole text is the task
        day = _day(m, now.astimezone(tz).date())
        if m["time"]:
            clock = _clock(m["time"])
            due = datetime.combine(day, clock).replace(tzinfo=tz)
            return due, False, rest
        if m["day"].lower() == "tonight":
            return datetime.combine(day, time(20, 0)).replace(tzinfo=tz), False, rest
        return datetime.combine(day, time(0, 0)).replace(tzinfo=tz), True, rest
    return None, False, stripped


def reminder_at(due: datetime, all_day: bool, tz: tzinfo) -> datetime:
    """Return when to remind of a task: its due time, or 09:00 on its day when it is all-day."""
    if not all_day:
        return due
    return datetime.combine(due.astimezone(tz).date(), ALL_DAY_REMINDER).replace(tzinfo=tz)


def due_text(due: datetime, all_day: bool, now: datetime, tz: tzinfo) -> str:
    """Say when a task is due, relative to now: ``overdue since Tue 1 Dec``, ``due today 15:00``, ``due Fri 4 Dec``."""
    local, today = due.astimezone(tz), now.astimezone(tz).date()
    day = local.date()
    clock = "" if all_day else f" {local:%H:%M}"
    if day == today:
        name = "today"
    elif day == today + timedelta(days=1):
        name = "tomorrow"
    else:
        name = f"{local:%a} {local.day} {local:%b}" + (f" {local.year}" if local.year != today.year else "")
    if is_overdue(due, all_day, now, tz):
        return f"overdue since {name}{clock}"
    return f"due {name}{clock}"


def is_overdue(due: datetime, all_day: bool, now: datetime, tz: tzinfo) -> bool:
    """Tell whether a task is past due: an all-day task after its day, a timed one after its time."""
    if all_day:
        return due.astimezone(tz).date() < now.astimezone(tz).date()
    return due < now


_PAST = re.compile(
    rf"(?:^|\s+|,\s*)(?P<on>on\s+|dated\s+)?(?P<past>(?:the\s+)?day\s+before\s+yesterday|yesterday|today|"
    rf"this\s+(?:morning|afternoon|evening)|tonight|last\s+night|"
    rf"(?P<n>\d{{1,3}}|a|one|two|three)\s+(?P<unit>days?|weeks?)\s+ago|"
    rf"(?P<last>last\s+)?(?P<weekday>{_DAY_NAMES})|(?P<iso>\d{{4}}-\d{{1,2}}-\d{{1,2}}))\s*[.!]?$",
    re.I,
)


def take_past_day(text: str, today: date) -> tuple[date | None, str]:
    """Take the day something happened off the end of a memo: ``ink yesterday`` is ink, one day ago.

    Money is recorded after it moves, so a weekday is the latest one on or before today (``friday``
    on a Friday is today; ``last friday`` is a week before that), and a date after today is refused.

    Returns:
        ``(day, rest)``, or ``(None, text)`` when the memo ends in no day.

    Raises:
        DateError: The phrase looks like a date but is not one, or it is after today.
    """
    m = _PAST.search(text)
    if m is None:
        return None, text
    if m["weekday"] and not (m["on"] or m["last"]) and m["weekday"].lower() not in WEEKDAYS:
        return None, text  # "a hat for the sun": a bare short name is a word, not a day
    word = " ".join(m["past"].lower().split())
    if word.endswith("day before yesterday"):
        day = today - timedelta(days=2)
    elif word in ("yesterday", "last night"):
        day = today - timedelta(days=1)
    elif m["n"]:
        n = _COUNTS.get(m["n"].lower()) or int(m["n"])
        day = today - timedelta(days=n * (7 if m["unit"].lower().startswith("week") else 1))
    elif m["weekday"]:
        back = (today.weekday() - _weekday(m["weekday"])) % 7
        day = today - timedelta(days=back or (7 if m["last"] else 0))
    elif m["iso"]:
        try:
            day = date.fromisoformat("-".join(p.zfill(2) for p in m["iso"].split("-")))
        except ValueError:
            raise DateError(f"{m['iso']!r} is not a date; type it like 2026-12-01.") from None
        if day > today:
            raise DateError(
                f"{day:%Y-%m-%d} is after today: record money when it has moved (a task can remind you)."
            )
    else:  # today, this morning, tonight
        day = today
    return day, text[: m.start()].strip()
