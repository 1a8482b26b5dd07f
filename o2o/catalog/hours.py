"""Opening hours: validate the JSON forms, compile them once, answer "open now?" fast.

Weekly hours are `{"mon": [["07:00", "22:00"]], ..., "sun": []}`; a missing or empty day is
closed, an interval whose end is not after its start runs past midnight (`["22:00", "02:00"]`
closes at 02:00 the next morning) and `"24:00"` is allowed as an end. Dated exceptions are
`{"2026-10-01": [], "2026-12-24": [["10:00", "18:00"]]}`.

All times are wall-clock times in the outlet's zone, so "07:00" stays 07:00 across a DST change.

Business days own their overnight spill: an exception on day D replaces the intervals that
*start* on D (and their spill into D+1), but the spill of D-1's last interval into the early
hours of D still counts, because it belongs to D-1's business day. A bar open Fri 18:00-02:00
with Saturday closed for a holiday still serves until 02:00 on Saturday; to close those hours
too, give D-1 an exception as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from o2o.catalog.hours_syntax import (
    DAYS,
    HOURS_FORMS,
    WeeklyHours,
    format_normalised,
    parse_compact,
)
from o2o.catalog.hours_syntax import fail as _fail

__all__ = ["DAYS", "Change", "OpeningHours", "format_compact", "hours_on", "is_open",
           "next_change", "parse_compact", "parse_exceptions", "parse_weekly", "today_text"]

#: Normalised exceptions: ISO date → intervals (empty = closed all day), sorted by date.
Exceptions = dict[str, list[list[str]]]

_WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DAY_MINUTES = 1440
WEEK_MINUTES = 7 * DAY_MINUTES
MAX_INTERVALS_PER_DAY = 8
_LOOKAHEAD_DAYS = 8


def _minutes(text: Any, field: str, *, end: bool) -> int:
    """Parse "HH:MM" (H:MM allowed) to minutes after midnight; "24:00" only as an end."""
    if not isinstance(text, str):
        raise _fail(field, f"{field}: time must be a string like \"07:30\", got {text!r}")
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(hh) > 2 or len(mm) != 2:
        raise _fail(field, f"{field}: {text!r} is not a time like \"07:30\"")
    value = int(hh) * 60 + int(mm)
    if int(mm) > 59 or value > DAY_MINUTES or (value == DAY_MINUTES and not end):
        hint = " (24:00 is only allowed as a closing time)" if value == DAY_MINUTES else ""
        raise _fail(field, f"{field}: {text!r} is not a valid time{hint}")
    return value


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _intervals(value: Any, field: str) -> list[tuple[int, int]]:
    """Validate one day's [start, end] pairs; returns (start, end) minutes, end up to 2880."""
    if not isinstance(value, list | tuple):
        raise _fail(field, f"{field}: expected a list of [\"HH:MM\", \"HH:MM\"] pairs")
    if len(value) > MAX_INTERVALS_PER_DAY:
        raise _fail(field, f"{field}: at most {MAX_INTERVALS_PER_DAY} intervals per day")
    spans = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise _fail(field, f"{field}: each interval is a pair [\"HH:MM\", \"HH:MM\"], "
                               f"got {pair!r}")
        start = _minutes(pair[0], field, end=False)
        stop = _minutes(pair[1], field, end=True)
        if stop == start:
            raise _fail(field, f"{field}: {pair[0]}-{pair[1]} is empty; "
                               "write 00:00-24:00 for a whole day")
        spans.append((start, stop if stop > start else stop + DAY_MINUTES))
    spans.sort()
    for (s1, e1), (s2, e2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise _fail(field, f"{field}: intervals {_hhmm(s1)}-{_hhmm(e1 % DAY_MINUTES)} and "
                               f"{_hhmm(s2)}-{_hhmm(e2 % DAY_MINUTES)} overlap")
    if spans and spans[-1][1] - spans[0][0] > DAY_MINUTES:
        raise _fail(field, f"{field}: the hours of one day may not run past the next day's "
                           "start of business (more than 24 h)")
    return spans


def _as_json(spans: list[tuple[int, int]]) -> list[list[str]]:
    return [[_hhmm(s), "24:00" if e == DAY_MINUTES else _hhmm(e % DAY_MINUTES)] for s, e in spans]


def parse_weekly(value: Mapping[str, Any] | str) -> WeeklyHours:
    """Validate weekly hours given as JSON (dict or text) or compact syntax; normalise them."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _fail("hours", f"hours: invalid JSON ({exc.msg})") from None
        else:
            value = parse_compact(text)
    if not isinstance(value, Mapping):
        raise _fail("hours", f"hours: expected {HOURS_FORMS}")
    unknown = [k for k in value if not isinstance(k, str) or k.lower() not in DAYS]
    if unknown:
        raise _fail("hours", f"hours: unknown day {unknown[0]!r}; days are {', '.join(DAYS)}")
    lowered = {k.lower(): v for k, v in value.items()}
    return {day: _as_json(_intervals(lowered.get(day) or [], f"hours.{day}")) for day in DAYS}


def parse_exceptions(value: Mapping[str, Any] | str | None) -> Exceptions:
    """Validate dated exceptions {"YYYY-MM-DD": [[...]]} (JSON text allowed); normalise them."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _fail("exceptions", f"exceptions: invalid JSON ({exc.msg})") from None
    if not isinstance(value, Mapping):
        raise _fail("exceptions", "exceptions: expected an object like {\"2026-10-01\": []}")
    out: Exceptions = {}
    for key in sorted(value, key=str):
        try:
            day = date.fromisoformat(str(key))
        except ValueError:
            raise _fail("exceptions", f"exceptions: {key!r} is not a date like 2026-10-01") \
                from None
        out[day.isoformat()] = _as_json(_intervals(value[key] or [], f"exceptions.{key}"))
    return out


def format_compact(weekly: Mapping[str, Any]) -> str:
    """The compact syntax for weekly hours; parse_weekly reads it back unchanged."""
    return format_normalised(parse_weekly(weekly))


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _fail("timezone", f"timezone: {tz!r} is not an IANA zone like Asia/Shanghai") \
            from None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """The next moment the open/closed state flips: `opens` tells which way."""

    at: datetime
    opens: bool


class OpeningHours:
    """Weekly hours plus exceptions compiled for one zone; immutable, cheap to query."""

    __slots__ = ("_always", "_days", "_exceptions", "_touched", "_week", "exceptions", "tz",
                 "weekly", "zone")

    def __init__(self, weekly: WeeklyHours, exceptions: Exceptions, tz: str) -> None:
        self.weekly, self.exceptions, self.tz = weekly, exceptions, tz
        self.zone = _zone(tz)
        self._days = [_intervals(weekly[d], d) for d in DAYS]
        self._exceptions = {date.fromisoformat(k): _intervals(v, k)
                            for k, v in exceptions.items()}
        week = bytearray(WEEK_MINUTES)
        for i, spans in enumerate(self._days):
            for s, e in spans:
                start, end = i * DAY_MINUTES + s, min(i * DAY_MINUTES + e, WEEK_MINUTES)
                week[start:end] = b"\x01" * (end - start)
                spill = i * DAY_MINUTES + e - WEEK_MINUTES  # Sunday night into Monday
                if spill > 0:
                    week[:spill] = b"\x01" * spill
        self._week = bytes(week)
        self._always = week.count(0) == 0
        # Ordinals of days an exception touches (its own day and the one its spill reaches).
        self._touched = frozenset(o for d in self._exceptions
                                  for o in (d.toordinal(), d.toordinal() + 1))

    @classmethod
    def compile(cls, weekly: Mapping[str, Any] | str | None,
                exceptions: Mapping[str, Any] | str | None = None,
                tz: str = "Asia/Shanghai") -> OpeningHours:
        """Validate and precompute; None weekly hours compile as "closed except exceptions".

        Outlets of a chain share a handful of timetables, so compiled objects (immutable)
        are shared through a small cache keyed on the canonical JSON.
        """
        try:
            key = (json.dumps(weekly or {}, sort_keys=True), json.dumps(exceptions or {},
                                                                       sort_keys=True))
        except TypeError:
            return cls(parse_weekly(weekly or {}), parse_exceptions(exceptions), tz)
        return _compiled(*key, tz)

    def _local(self, at: datetime, tz: str | None) -> datetime:
        if at.tzinfo is None:
            raise ValueError("opening hours need an aware datetime")
        return at.astimezone(self.zone if tz is None or tz == self.tz else _zone(tz))

    def _own(self, day: date) -> list[tuple[int, int]]:
        """Intervals that start on business day `day` (end may pass midnight)."""
        spans = self._exceptions.get(day)
        return self._days[day.weekday()] if spans is None else spans

    def coverage(self, day: date) -> list[tuple[int, int]]:
        """Open minutes on calendar day `day`, merged, within [0, 1440]; includes D-1's spill."""
        spill = [(0, e - DAY_MINUTES) for _s, e in self._own(day - timedelta(days=1))
                 if e > DAY_MINUTES]
        own = [(s, min(e, DAY_MINUTES)) for s, e in self._own(day)]
        return _merge(spill + own)

    def is_open(self, at: datetime, tz: str | None = None) -> bool:
        """Open at the instant `at` (aware), in the compiled zone unless `tz` overrides it."""
        local = self._local(at, tz)
        minute = local.hour * 60 + local.minute
        if self._touched and local.toordinal() in self._touched:
            return any(s <= minute < e for s, e in self.coverage(local.date()))
        return self._week[local.weekday() * DAY_MINUTES + minute] == 1

    def hours_on(self, day: date) -> list[tuple[time, time]]:
        """Intervals of business day `day` as (start, end); end <= start means the next day."""
        return [(_time(s), _time(e)) for s, e in self._own(day)]

    def _timeline(self, day: date) -> list[tuple[int, int]]:
        """Open spans over 8 days from `day`'s midnight, merged across midnights."""
        spans = [(s + i * DAY_MINUTES, e + i * DAY_MINUTES)
                 for i in range(_LOOKAHEAD_DAYS)
                 for s, e in self.coverage(day + timedelta(days=i))]
        return _merge(spans)

    def next_change(self, at: datetime, tz: str | None = None) -> Change | None:
        """When the state flips next (within a week), e.g. for "08:00 开门"; None if never."""
        local = self._local(at, tz)
        day, minute = local.date(), local.hour * 60 + local.minute
        horizon = _LOOKAHEAD_DAYS * DAY_MINUTES
        for s, e in self._timeline(day):
            if s <= minute < e:
                return None if e >= horizon else self._wall(day, e, local, opens=False)
            if s > minute:
                return self._wall(day, s, local, opens=True)
        return None

    @staticmethod
    def _wall(day: date, minutes: int, local: datetime, *, opens: bool) -> Change:
        wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return Change(at=wall.replace(tzinfo=local.tzinfo), opens=opens)

    def next_change_text(self, at: datetime, tz: str | None = None) -> str:
        """"22:00 打烊" while open, "08:00 开门" / "明天 08:00 开门" while closed; "" if never."""
        change = self.next_change(at, tz)
        if change is None:
            return ""
        days = (change.at.date() - self._local(at, tz).date()).days
        when = {0: "", 1: "明天 "}.get(days, _WEEKDAY_ZH[change.at.weekday()] + " ")
        return f"{when}{change.at:%H:%M} {'开门' if change.opens else '打烊'}"

    def today_text(self, at: datetime, tz: str | None = None) -> str:
        """One line for a reply card: "今日 07:00–22:00", "今日休息", "24 小时营业"."""
        local = self._local(at, tz)
        day, minute = local.date(), local.hour * 60 + local.minute
        if self.coverage(day) == [(0, DAY_MINUTES)]:
            quiet = not any(day + timedelta(days=i) in self._exceptions for i in range(-1, 2))
            return "24 小时营业" if quiet and self._always else "今日 24 小时营业"
        spill = [e - DAY_MINUTES for _s, e in self._own(day - timedelta(days=1))
                 if minute < e - DAY_MINUTES]
        prefix = f"营业至 {_hhmm(spill[0])}；" if spill else ""
        own = self._own(day)
        if not own:
            return prefix + "今日休息"
        return prefix + "今日 " + ", ".join(_span_text(s, e) for s, e in own)


@lru_cache(maxsize=4096)
def _compiled(weekly: str, exceptions: str, tz: str) -> OpeningHours:
    weekly_hours, dated = parse_weekly(json.loads(weekly)), parse_exceptions(json.loads(exceptions))
    return OpeningHours(weekly_hours, dated, tz)


def _time(minutes: int) -> time:
    m = minutes % DAY_MINUTES
    return time(m // 60, m % 60)


def _span_text(start: int, end: int) -> str:
    if end == DAY_MINUTES:
        return f"{_hhmm(start)}–24:00"
    if end > DAY_MINUTES:
        return f"{_hhmm(start)}–次日{_hhmm(end - DAY_MINUTES)}"
    return f"{_hhmm(start)}–{_hhmm(end)}"


def is_open(weekly: Mapping[str, Any], exceptions: Mapping[str, Any] | None, tz: str,
            at: datetime) -> bool:
    """One-off check; compile with OpeningHours.compile for anything called per query."""
    return OpeningHours.compile(weekly, exceptions, tz).is_open(at)


def hours_on(weekly: Mapping[str, Any], exceptions: Mapping[str, Any] | None,
             day: date) -> list[tuple[time, time]]:
    """The intervals that start on `day` after exceptions; end <= start means the next day."""
    return OpeningHours.compile(weekly, exceptions, "UTC").hours_on(day)


def today_text(weekly: Mapping[str, Any], exceptions: Mapping[str, Any] | None, tz: str,
               at: datetime) -> str:
    """Today's hours as one Chinese line (see OpeningHours.today_text)."""
    return OpeningHours.compile(weekly, exceptions, tz).today_text(at)


def next_change(weekly: Mapping[str, Any], exceptions: Mapping[str, Any] | None, tz: str,
                at: datetime) -> Change | None:
    """The next open/close moment (see OpeningHours.next_change)."""
    return OpeningHours.compile(weekly, exceptions, tz).next_change(at)
