"""Promotion schedules: when an offer is live (validity window, weekdays, a daily window).

The validity window is absolute (aware datetimes, compared as instants). Weekdays and the
daily window are wall-clock rules, read in the schedule's own zone or, when it has none, in
the outlet's zone, so one national "07:00–10:00" offer means breakfast time in every store.

A daily window whose end is not after its start runs overnight and belongs to the day it
starts on: "周五 22:00–02:00" is live at 01:00 on Saturday. `daily_end` 00:00 (or "24:00")
means midnight at the end of the day; only one of start/end set means "from start until
midnight" or "from midnight until end".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from o2o.errors import ValidationError

__all__ = ["Schedule", "describe", "is_active", "parse_hhmm", "parse_schedule"]

_WEEKDAY_ZH = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}


def _fail(field_name: str, message: str) -> ValidationError:
    return ValidationError(message, details=[{"field": field_name, "message": message}])


def parse_hhmm(text: str, field_name: str = "time") -> time:
    """"07:30" → time(7, 30); "24:00" → time(0, 0), which as an end means midnight."""
    hh, sep, mm = str(text).strip().partition(":")
    if sep and hh.isdigit() and mm.isdigit() and len(hh) <= 2 and len(mm) == 2:
        h, m = int(hh), int(mm)
        if (h, m) == (24, 0):
            return time(0, 0)
        if h < 24 and m < 60:
            return time(h, m)
    raise _fail(field_name, f"{field_name}: {text!r} is not a time like \"07:30\"")


def _zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _fail(field_name, f"{field_name}: {name!r} is not an IANA zone like "
                                "Asia/Shanghai") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a promotion is live; validated on construction, so a Schedule is always sane."""

    valid_from: datetime | None = None
    valid_until: datetime | None = None
    weekdays: frozenset[int] = field(default_factory=frozenset)
    daily_start: time | None = None
    daily_end: time | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise _fail(name, f"{name}: needs a date-time with a UTC offset, "
                                  "e.g. 2026-01-01T00:00:00+08:00")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise _fail("valid_until", "valid_until: must be after valid_from "
                                       f"({self.valid_until.isoformat()} <= "
                                       f"{self.valid_from.isoformat()})")
        bad = sorted((d for d in self.weekdays
                      if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7),
                     key=repr)
        if bad:
            raise _fail("weekdays", f"weekdays: {bad[0]!r} is not an ISO weekday "
                                    "(1 = Monday ... 7 = Sunday)")
        for name in ("daily_start", "daily_end"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), time):
                raise _fail(name, f"{name}: expected a time, got {getattr(self, name)!r}")
        if self.daily_start is not None and self.daily_start == self.daily_end:
            raise _fail("daily_end", "daily_end: equals daily_start; leave both empty "
                                     "for the whole day")
        if self.timezone is not None:
            _zone(self.timezone)

    def is_active(self, at: datetime, fallback_tz: str = "Asia/Shanghai") -> bool:
        """Live at the instant `at`, reading weekdays/hours in our zone or else `fallback_tz`."""
        if at.tzinfo is None:
            raise ValueError("schedules need an aware datetime")
        if self.valid_from is not None and at < self.valid_from:
            return False
        if self.valid_until is not None and at >= self.valid_until:
            return False
        if not self.weekdays and self.daily_start is None and self.daily_end is None:
            return True
        local = at.astimezone(_zone(self.timezone or fallback_tz))
        owner = self._owning_day(local.date(), local.time().replace(tzinfo=None))
        return owner is not None and (not self.weekdays or owner.isoweekday() in self.weekdays)

    def _owning_day(self, day: date, now: time) -> date | None:
        """The day whose daily window covers `now` on `day` (yesterday if overnight), or None."""
        start = self.daily_start or time(0, 0)
        end = self.daily_end
        if end is None or end == time(0, 0):
            return day if now >= start else None
        if start < end:
            return day if start <= now < end else None
        if now >= start:
            return day
        return day - timedelta(days=1) if now < end else None

    def describe(self) -> str:
        """A short Chinese line such as "周一至周五 07:00–10:00" or "每天"."""
        return describe(self)


def _weekday_text(days: frozenset[int]) -> str:
    if not days or len(days) == 7:
        return "每天"
    ordered = sorted(days)
    if len(ordered) >= 3 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{_WEEKDAY_ZH[ordered[0]]}至{_WEEKDAY_ZH[ordered[-1]]}"
    return "、".join(_WEEKDAY_ZH[d] for d in ordered)


def describe(schedule: Schedule) -> str:
    """Weekdays then the daily window: "周六、周日 14:00–17:00", "每天 22:00–次日02:00"."""
    text = _weekday_text(schedule.weekdays)
    start, end = schedule.daily_start, schedule.daily_end
    if start is None and end is None:
        return text
    start = start or time(0, 0)
    if end is None or end == time(0, 0):
        return f"{text} {start:%H:%M}–24:00"
    overnight = "次日" if end <= start else ""
    return f"{text} {start:%H:%M}–{overnight}{end:%H:%M}"


def is_active(schedule: Schedule, at: datetime, fallback_tz: str) -> bool:
    """Live at `at`? Evaluated in the schedule's zone, else the outlet's (`fallback_tz`)."""
    return schedule.is_active(at, fallback_tz)


def _when(item: Mapping[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise _fail(key, f"{key}: {value!r} is not an ISO 8601 date-time") from None


def parse_schedule(item: Mapping[str, Any]) -> Schedule:
    """Build a Schedule from JSON-ish fields (ISO strings, "HH:MM", weekday list)."""
    weekdays = item.get("weekdays") or []
    if not isinstance(weekdays, list | tuple | set | frozenset):
        raise _fail("weekdays", "weekdays: expected a list of ISO weekdays, e.g. [1, 2, 3]")
    start, end = item.get("daily_start"), item.get("daily_end")
    return Schedule(
        valid_from=_when(item, "valid_from"), valid_until=_when(item, "valid_until"),
        weekdays=frozenset(weekdays),
        daily_start=parse_hhmm(start, "daily_start") if start else None,
        daily_end=parse_hhmm(end, "daily_end") if end else None,
        timezone=item.get("timezone") or None,
    )
