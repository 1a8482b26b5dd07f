"""The compact opening-hours syntax of CSV/XLSX cells: a subset of OSM `opening_hours`.

`Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30`, `24/7`, `Mo-Th 10:00-14:00,17:00-22:00`,
`Fr 18:00-02:00`, `Su off`. Parsing yields the weekly JSON form that `hours.parse_weekly`
then validates; formatting groups days with equal hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from o2o.errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

WeeklyHours = dict[str, list[list[str]]]


def fail(field: str, message: str) -> ValidationError:
    """A ValidationError naming the field, the shape every hours message takes."""
    return ValidationError(message, details=[{"field": field, "message": message}])


_TRANSLATE = str.maketrans({"–": "-", "—": "-", "－": "-", "~": "-", "～": "-", "：": ":",
                            "；": ";", "，": ","})
_RULE = re.compile(r"^(?:(?P<days>[A-Za-z]{2}(?:\s*[-,]\s*[A-Za-z]{2})*)\s+)?(?P<times>.+)$")
_SPAN = re.compile(r"^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$")
#: The two forms weekly hours take everywhere (files, the admin API), for error messages.
HOURS_FORMS = ('either text like "Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30" (or "24/7") '
               'or an object like {"mon": [["07:00", "22:00"]], "sat": [["08:00", "23:30"]]}')
_COMPACT_HELP = f"write hours as {HOURS_FORMS}"


def _compact_days(text: str, rule: str) -> list[int]:
    """"Mo-Fr,Su" → [0, 1, 2, 3, 4, 6]; ranges may wrap ("Fr-Mo")."""
    names = [d.lower() for d in _OSM_DAYS]
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        ends = part.split("-")
        for name in ends:
            if name.lower() not in names:
                hint = " (public holidays go in the exceptions column)" \
                    if name.upper() in ("PH", "SH") else f" (use {' '.join(_OSM_DAYS)})"
                raise fail("hours", f"hours: cannot read {rule!r}: unknown day {name!r}{hint}")
        if len(ends) > 2:
            raise fail("hours", f"hours: cannot read {rule!r}: bad day range {part!r}")
        first, last = names.index(ends[0].lower()), names.index(ends[-1].lower())
        out.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return out


def parse_compact(text: str) -> WeeklyHours:
    """Read the compact syntax (a subset of OSM opening_hours); later rules override days."""
    text = text.translate(_TRANSLATE).strip()
    if not text:
        raise fail("hours", f"hours: empty; {_COMPACT_HELP}")
    if text.lower() == "24/7":
        return {day: [["00:00", "24:00"]] for day in DAYS}
    week: WeeklyHours = {day: [] for day in DAYS}
    for rule in (r.strip() for r in text.split(";")):
        if not rule:
            continue
        match = _RULE.match(rule)
        if match is None:
            raise fail("hours", f"hours: cannot read {rule!r}; {_COMPACT_HELP}")
        days = _compact_days(match["days"], rule) if match["days"] else list(range(7))
        times = match["times"].strip()
        spans: list[list[str]] = []
        if times.lower() not in ("off", "closed"):
            for piece in times.split(","):
                span = _SPAN.match(piece.strip())
                if span is None:
                    raise fail("hours", f"hours: cannot read {piece.strip()!r} in {rule!r}; "
                                         f"times look like 07:00-22:00 ({_COMPACT_HELP})")
                spans.append([span[1], span[2]])
        for i in days:
            week[DAYS[i]] = spans
    return week


def _day_list(indices: list[int]) -> str:
    """[0..4] → "Mo-Fr", [5, 6] → "Sa,Su"; runs of three or more become ranges."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [f"{_OSM_DAYS[r[0]]}-{_OSM_DAYS[r[-1]]}" if len(r) > 2
             else ",".join(_OSM_DAYS[i] for i in r) for r in runs]
    return ",".join(parts)


def format_normalised(week: Mapping[str, list[list[str]]]) -> str:
    """The compact syntax for weekly hours already normalised by hours.parse_weekly."""
    if all(week[d] == [["00:00", "24:00"]] for d in DAYS):
        return "24/7"
    groups: dict[str, list[int]] = {}
    for i, day in enumerate(DAYS):
        if week[day]:
            key = ",".join(f"{s}-{e}" for s, e in week[day])
            groups.setdefault(key, []).append(i)
    if not groups:
        return "Mo-Su off"
    return "; ".join(f"{_day_list(days)} {key}" for key, days in groups.items())


