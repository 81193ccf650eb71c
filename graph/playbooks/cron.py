"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in a zone.

Small and strict on purpose: ``*``, lists, ranges, steps and names (``MON``, ``JAN``). Day of month and
day of week combine as in Vixie cron: when both are restricted, either may match.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

_DOW = {n: i for i, n in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_MON = {n: i + 1 for i, n in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MON),
           ("day of week", 0, 7, _DOW))
MAX_SCAN_DAYS = 366 * 5


class CronError(ValueError):
    """A cron expression that does not parse; the message says which field and why."""

    user_message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


def _value(text: str, names: dict[str, int], what: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CronError(f"{what}: {text!r} is not a number")
    return int(text)


def _field(text: str, lo: int, hi: int, names: dict[str, int], what: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _value(step_text, {}, what) if step_text else 1
        if step < 1:
            raise CronError(f"{what}: step must be at least 1")
        if body == "*":
            first, last = lo, hi
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _value(a, names, what), _value(b, names, what)
        else:
            first = last = _value(body, names, what)
            if step_text:
                last = hi
        if not (lo <= first <= hi and lo <= last <= hi) or first > last:
            raise CronError(f"{what}: {part!r} is outside {lo}-{hi}")
        out.update(range(first, last + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        """Parse ``m h dom mon dow``.

        Raises:
            CronError: The expression does not have five valid fields.
        """
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"a cron expression has 5 fields (minute hour day month weekday), not {len(parts)}")
        sets = [_field(p, lo, hi, names, what) for p, (what, lo, hi, names) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(text, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")

    def _day_matches(self, local: datetime) -> bool:
        if local.month not in self.months:
            return False
        dom = local.day in self.days
        dow = (local.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def slots(self, after: datetime, until: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Yield the slots (aware UTC) strictly after ``after`` and at or before ``until``."""
        local = after.astimezone(tz).replace(second=0, microsecond=0)
        day = local.replace(hour=0, minute=0)
        for _ in range(MAX_SCAN_DAYS):
            if day.astimezone(UTC) > until + timedelta(days=1):
                return
            if self._day_matches(day):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        slot = day.replace(hour=h, minute=m, tzinfo=tz).astimezone(UTC)
                        if after < slot <= until:
                            yield slot
                        elif slot > until:
                            return
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """Return the first slot after ``after`` (None: none in five years)."""
        return next(self.slots(after, after + timedelta(days=MAX_SCAN_DAYS), tz), None)
