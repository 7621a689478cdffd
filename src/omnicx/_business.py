"""Business hours and service-level targets: the clock that SLAs run on.

A first-response target of "4 hours" means 4 *business* hours: a message at
23:00 on a Friday is not late on Saturday morning. `BusinessHours` knows a
time zone (daylight saving included, through `zoneinfo`), the opening hours
of each weekday and the holidays (dates, or a dateutil ``rrule``/``rruleset``
for recurring ones), and measures how much business time lies between two
instants. `SLA` pairs targets with the hours they are measured in.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from ._errors import ConfigurationError

__all__ = ["SLA", "BusinessHours"]

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[dt.time, dt.time]


def _days(spec: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed"`` as weekday numbers."""
    days: list[int] = []
    for part in spec.lower().split(","):
        first, _, last = part.strip().partition("-")
        try:
            start, end = _DAYS[first[:3]], _DAYS[(last or first)[:3]]
        except KeyError as exc:
            raise ConfigurationError(f"not a weekday: {part.strip()!r}") from exc
        days.extend(range(start, end + 1) if start <= end else [*range(start, 7),
                                                                 *range(end + 1)])
    return days


def _intervals(spec: str | Iterable[str]) -> list[Interval]:
    """``"08:00-12:00, 13:00-17:00"`` as sorted, non-overlapping intervals."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    found = []
    for part in parts:
        match = _SPAN.match(part)
        if match is None:
            raise ConfigurationError(f"not an opening time span (HH:MM-HH:MM): {part!r}")
        h1, m1, h2, m2 = map(int, match.groups())
        if h2 == 24 and m2 == 0:
            h2, m2 = 23, 59
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError as exc:
            raise ConfigurationError(f"not an opening time span: {part!r}") from exc
        if end <= start:
            raise ConfigurationError(f"an opening span must end after it starts: {part!r}")
        found.append((start, end))
    found.sort()
    for (_, end), (start, _) in itertools.pairwise(found):
        if start < end:
            raise ConfigurationError(f"opening spans overlap: {spec!r}")
    return found


def _week(hours: Mapping[str, str | Iterable[str]]) -> tuple[tuple[Interval, ...], ...]:
    week: list[list[Interval]] = [[] for _ in range(7)]
    for days, spans in hours.items():
        for day in _days(days):
            week[day] = _intervals(spans)
    return tuple(tuple(day) for day in week)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"unknown time zone: {name!r}") from exc


@attrs.frozen(kw_only=True)
class BusinessHours:
    """Opening hours in a time zone, with holidays.

    ``hours`` maps weekdays to spans: ``{"mon-fri": "08:00-12:00, 13:00-17:30",
    "sat": "09:00-12:00"}``; days it does not name are closed. ``holidays`` is
    any iterable of dates, or a dateutil ``rrule``/``rruleset`` (its
    occurrences' dates are holidays)::

        from dateutil.rrule import YEARLY, rrule
        swiss = BusinessHours(timezone="Europe/Zurich", hours={"mon-fri": "08:00-18:00"},
                              holidays=[dt.date(2026, 12, 25), dt.date(2026, 12, 26)])
    """

    timezone: str = "UTC"
    hours: Mapping[str, str | Iterable[str]] = attrs.field(
        factory=lambda: {"mon-fri": "09:00-17:00"})
    holidays: Any = ()
    _zone: ZoneInfo = attrs.field(init=False, eq=False, repr=False)
    _week: tuple[tuple[Interval, ...], ...] = attrs.field(init=False, eq=False, repr=False)
    _closed: frozenset[dt.date] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_zone", _zone(self.timezone))
        object.__setattr__(self, "_week", _week(self.hours))
        dates = set()
        for day in self.holidays:
            dates.add(day.date() if isinstance(day, dt.datetime) else day)
        object.__setattr__(self, "_closed", frozenset(dates))

    def is_open(self, at: dt.datetime) -> bool:
        """Whether ``at`` (timezone-aware) falls within opening hours."""
        local = at.astimezone(self._zone)
        if local.date() in self._closed:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self._week[local.weekday()])

    def elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Business time between two instants (zero when ``end`` is not after ``start``)."""
        if end <= start:
            return dt.timedelta(0)
        zone = self._zone
        total = dt.timedelta(0)
        day = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        while day <= last:
            if day not in self._closed:
                for open_at, close_at in self._week[day.weekday()]:
                    # Local wall times to instants: fold=0 picks the first of an
                    # ambiguous hour; a span in a skipped hour starts at its end.
                    lo = dt.datetime.combine(day, open_at, zone).astimezone(dt.UTC)
                    hi = dt.datetime.combine(day, close_at, zone).astimezone(dt.UTC)
                    lo, hi = max(lo, start), min(hi, end)
                    if hi > lo:
                        total += hi - lo
            day += dt.timedelta(days=1)
        return total


@attrs.frozen(kw_only=True)
class SLA:
    """Service-level targets for one channel (or all), measured in ``hours``.

    ``first_response``: from the customer's first message to the first human
    answer; ``resolution``: from the first message to the resolution.
    ``hours=None`` measures wall-clock time.
    """

    first_response: dt.timedelta | None = None
    resolution: dt.timedelta | None = None
    hours: BusinessHours | None = None

    def measure(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        if self.hours is None:
            return max(end - start, dt.timedelta(0))
        return self.hours.elapsed(start, end)
