"""One-tap dated exceptions to an outlet's hours: close early on a day, special hours on a
date, or drop an exception. Each returns the outlet's whole new `exceptions` mapping, which
goes through the ordinary outlet update (validation, version, audit, change feed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from o2o.catalog.hours import DAY_MINUTES, Exceptions, hours_on, parse_exceptions
from o2o.catalog.hours_syntax import fail, parse_compact

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
CLOSED_WORDS = ("off", "closed", "休息", "不营业", "")


def _minutes(value: str, field: str) -> int:
    match = _HHMM.match(value.strip())
    if match is None:
        raise fail(field, f"{field}: a time like 20:30 is required")
    return int(match[1]) * 60 + int(match[2])


def _hhmm(minutes: int) -> str:
    return "24:00" if minutes == DAY_MINUTES else f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def close_early(weekly: Mapping[str, Any] | None, exceptions: Mapping[str, Any] | None,
                day: date, at: str) -> Exceptions:
    """`day`'s own hours cut off at `at` (an interval that had not begun by then goes);
    closing at or before the first opening closes the whole day."""
    cut = _minutes(at, "close_at")
    own = hours_on(weekly or {}, exceptions, day)
    if not own:
        raise fail("close_at", "close_at: the outlet is not open that day anyway")
    spans, shortened = [], False
    for start, end in own:
        s = start.hour * 60 + start.minute
        e = end.hour * 60 + end.minute
        e = e + DAY_MINUTES if e <= s else e  # past midnight (or 24:00)
        shortened = shortened or cut < e
        if s < cut:
            spans.append([_hhmm(s), _hhmm(min(e, cut))])
    if not shortened:
        raise fail("close_at", f"close_at: the outlet closes by {at.strip()} that day anyway")
    return _with(exceptions, day, spans)


def special_hours(exceptions: Mapping[str, Any] | None, day: date, text: str) -> Exceptions:
    """`day`'s hours replaced by `text` ("10:00-18:00", "10:00-14:00,17:00-21:00", or "休息")."""
    if text.strip().lower() in CLOSED_WORDS:
        return _with(exceptions, day, [])
    week = parse_compact(text)
    if any(week[d] != week["mon"] for d in week):
        raise fail("hours", "hours: give times only, e.g. 10:00-18:00 (the date is the day)")
    return _with(exceptions, day, week["mon"])


def drop_exception(exceptions: Mapping[str, Any] | None, day: date) -> Exceptions:
    """The exceptions without `day`'s (the weekly hours apply again)."""
    current = parse_exceptions(dict(exceptions or {}))
    current.pop(day.isoformat(), None)
    return current


def _with(exceptions: Mapping[str, Any] | None, day: date, spans: list[list[str]]) -> Exceptions:
    current = dict(parse_exceptions(dict(exceptions or {})))
    current[day.isoformat()] = spans
    return parse_exceptions(current)
