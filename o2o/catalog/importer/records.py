"""Turn raw rows into validated outlet records, or into one line-numbered error each.

Coordinates leave here in WGS-84 (the database's datum): the file's datum is converted by
`o2o.geo.datum.to_wgs84`, which only shifts points inside mainland China.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from o2o.catalog.hours import parse_exceptions, parse_weekly
from o2o.catalog.importer.readers import RawRow
from o2o.errors import O2OError, ValidationError
from o2o.geo.datum import Datum, to_wgs84

__all__ = ["DEFAULT_TIMEZONE", "FIELDS", "OutletRecord", "RowError", "parse_mapping",
           "validate_row", "validate_rows"]

FIELDS = ("code", "name", "address", "city", "district", "phone", "lat", "lng", "timezone",
          "region", "status", "reopen_on", "tags", "hours", "exceptions", "image_url",
          "geofence_radius_m")
REQUIRED = ("code", "name", "lat", "lng")
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_GEOFENCE_M = 150
_MAX_LEN = {"code": 64, "name": 200, "address": 500, "city": 100, "district": 100,
            "phone": 50, "region": 32, "image_url": 500}
_STATUS = {"open": "open", "营业": "open", "营业中": "open", "temporarily_closed":
           "temporarily_closed", "暂停营业": "temporarily_closed", "closed": "closed",
           "已停业": "closed", "停业": "closed", "关闭": "closed"}
_TAG_SPLIT = re.compile(r"[;,|；，、]")


@dataclass(frozen=True, slots=True)
class OutletRecord:
    """One valid outlet from a file; lat/lng are WGS-84, hours/exceptions normalised JSON.

    Records of one file may share their hours/exceptions dicts: treat them as read-only.
    """

    line: int
    code: str
    name: str
    lat: float
    lng: float
    address: str = ""
    city: str = ""
    district: str = ""
    phone: str = ""
    timezone: str = DEFAULT_TIMEZONE
    region: str | None = None
    status: str = "open"
    reopen_on: date | None = None
    tags: frozenset[str] = field(default_factory=frozenset)
    hours: dict[str, Any] | None = None
    exceptions: dict[str, Any] = field(default_factory=dict)
    image_url: str = ""
    geofence_radius_m: int = DEFAULT_GEOFENCE_M


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was rejected: the line a person can find, the field, a fix-it message."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class _Reject(Exception):
    """Internal: one field of the row is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field_name, message


def parse_mapping(text: str | None) -> dict[str, str]:
    """"code=Store Number,name=Store Name" → {"code": "Store Number", ...}; targets checked."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        target, sep, source = part.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise ValidationError(f"--columns: {part.strip()!r} is not field=Source Column",
                                  details=[{"field": "columns", "message": part.strip()}])
        if target not in FIELDS:
            raise ValidationError(f"--columns: unknown field {target!r}; fields are "
                                  f"{', '.join(FIELDS)}",
                                  details=[{"field": "columns", "allowed": list(FIELDS)}])
        if target in mapping:
            raise ValidationError(f"--columns: field {target!r} is mapped twice",
                                  details=[{"field": "columns", "message": target}])
        mapping[target] = source
    return mapping


def _number(text: str, field_name: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise _Reject(field_name, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _Reject(field_name, f"{text!r} is not a finite number")
    return value


def _position(lat_text: str, lng_text: str, crs: Datum) -> tuple[float, float]:
    lat, lng = _number(lat_text, "lat"), _number(lng_text, "lng")
    if abs(lat) > 90:
        hint = (f"; lat and lng look swapped (lat={lng}, lng={lat} would be valid) - check "
                "the column mapping") if abs(lng) <= 90 and abs(lat) <= 180 else ""
        raise _Reject("lat", f"latitude {lat} is outside -90..90{hint}")
    if abs(lng) > 180:
        raise _Reject("lng", f"longitude {lng} is outside -180..180")
    if lat == 0 and lng == 0:
        raise _Reject("lat", "0, 0 is 'null island' in the Gulf of Guinea: the position is "
                             "missing, not a place")
    try:
        return to_wgs84(lat, lng, crs)
    except O2OError as exc:
        raise _Reject("lat", exc.message) from None


#: Names that store lists use but IANA does not (or no longer) know.
_ZONE_ALIASES = {"Asia/Beijing": "Asia/Shanghai", "Asia/New_Delhi": "Asia/Kolkata",
                 "America/Willemstad": "America/Curacao", "America/Oranjestad": "America/Aruba",
                 "Asia/Saigon": "Asia/Ho_Chi_Minh"}
_OFFSET = re.compile(r"^(?:GMT|UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _zone_names() -> tuple[frozenset[str], tuple[str, ...]]:
    names = frozenset(n for n in available_timezones() if not n.startswith(("posix/", "right/")))
    return names, tuple(sorted(names))


def _zone_from_word(word: str) -> str | None:
    """An IANA name, a known alias, or a unique prefix of one (exports cut names at 20)."""
    names, ordered = _zone_names()
    if word in names:
        return word
    if word in _ZONE_ALIASES:
        return _ZONE_ALIASES[word]
    if "/" in word and len(word) >= 10:
        matches = [n for n in ordered if n.startswith(word)]
        if len(matches) == 1:
            return matches[0]
    return None


@lru_cache(maxsize=4096)
def parse_timezone(text: str) -> str:
    """An IANA zone from "Asia/Shanghai", "GMT+1:00 Europe/Andorra" or a whole-hour offset.

    The name wins over the offset (it knows DST); a bare "GMT+08:00" becomes Etc/GMT-8.
    Raises ValueError when neither gives a zone.
    """
    words = text.split()
    for word in words:
        zone = _zone_from_word(word)
        if zone is not None:
            return zone
    if text.strip().upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    for word in words:
        match = _OFFSET.match(word)
        if match and int(match[3] or 0) == 0 and int(match[2]) <= 14:
            hours = int(match[2])
            # POSIX sign convention: Etc/GMT-8 is eight hours *ahead* of UTC.
            return "UTC" if hours == 0 else f"Etc/GMT{'-' if match[1] == '+' else '+'}{hours}"
    raise ValueError(f"{text!r} names no IANA time zone (e.g. Asia/Shanghai)")


_TEXT_LIMITS = tuple(_MAX_LEN.items())


def _fields(cells: Mapping[str, str | None], crs: Datum,
            parsed_hours: dict[tuple[str | None, str | None], Any]) -> dict[str, Any]:
    """Check every field of one row; raises _Reject at the first problem."""
    for name in REQUIRED:
        value = cells[name]
        if not value or not value.strip():
            raise _Reject(name, "required, but empty")
    if "\x00" in "".join(value for value in cells.values() if value):
        name = next(name for name, value in cells.items() if value and "\x00" in value)
        raise _Reject(name, "contains a NUL character (a damaged or binary file?)")
    out: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS:
        text = (cells[name] or "").strip()
        if len(text) > limit:
            raise _Reject(name, f"longer than {limit} characters")
        out[name] = text
    out["lat"], out["lng"] = _position(cells["lat"] or "", cells["lng"] or "", crs)
    out["region"] = out["region"] or None
    tz = (cells.get("timezone") or "").strip()
    try:
        out["timezone"] = parse_timezone(tz) if tz else DEFAULT_TIMEZONE
    except ValueError as exc:
        raise _Reject("timezone", str(exc)) from None
    out["status"] = _status(cells.get("status"))
    out["reopen_on"] = _reopen_on(cells.get("reopen_on"))
    out["tags"] = _tags(cells.get("tags"))
    key = (cells.get("hours"), cells.get("exceptions"))
    hours = parsed_hours.get(key)
    if hours is None:
        hours = parsed_hours[key] = _hours(*key)
    out["hours"], out["exceptions"] = hours
    url = out["image_url"]
    if url and not url.startswith(("/", "https://", "http://")):
        raise _Reject("image_url", f"{url[:40]!r} is not an http(s) URL or a /path")
    out["geofence_radius_m"] = _radius(cells.get("geofence_radius_m"))
    return out


@lru_cache(maxsize=256)
def _status(value: str | None) -> str:
    status = (value or "open").strip()
    if status.lower() not in _STATUS and status not in _STATUS:
        raise _Reject("status", f"{status!r} is not one of open, temporarily_closed, closed")
    return _STATUS.get(status.lower(), _STATUS.get(status))  # type: ignore[return-value]


def _reopen_on(value: str | None) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _Reject("reopen_on", f"{text!r} is not a date like 2026-12-01") from None


@lru_cache(maxsize=4096)
def _tags(value: str | None) -> frozenset[str]:
    text = (value or "").strip()
    if text.startswith("["):
        text = text.strip("[]").replace('"', "")
    tags = frozenset(t.strip() for t in _TAG_SPLIT.split(text) if t.strip())
    if any(len(t) > 32 for t in tags):
        raise _Reject("tags", "a tag is longer than 32 characters")
    return tags


def _hours(hours: str | None, exceptions: str | None) -> tuple[Any, dict[str, Any]]:
    try:
        weekly = parse_weekly(hours) if (hours or "").strip() else None
    except ValidationError as exc:
        raise _Reject("hours", exc.message.removeprefix("hours: ")) from None
    try:
        return weekly, parse_exceptions(exceptions)
    except ValidationError as exc:
        raise _Reject("exceptions", exc.message.removeprefix("exceptions: ")) from None


def _radius(value: str | None) -> int:
    text = (value or "").strip()
    if not text:
        return DEFAULT_GEOFENCE_M
    radius = _number(text, "geofence_radius_m")
    if not radius.is_integer() or not 1 <= radius <= 5000:
        raise _Reject("geofence_radius_m", f"{text!r} must be whole metres from 1 to 5000")
    return int(radius)


class _FileCheck:
    """Validation state for one file: datum, source columns, codes seen, hours parsed."""

    def __init__(self, mapping: Mapping[str, str], crs: Datum | str,
                 seen: dict[str, int] | None) -> None:
        self.datum = Datum.parse(crs)
        self.sources = tuple((name, mapping.get(name, name)) for name in FIELDS)
        self.required = tuple((name, mapping.get(name, name)) for name in REQUIRED)
        self.seen = seen
        # (hours, exceptions) cell text → parsed pair: a chain repeats a handful of schedules,
        # so each is parsed once per file (the records then share those read-only dicts).
        self.parsed_hours: dict[tuple[str | None, str | None], Any] = {}

    def __call__(self, raw: RawRow) -> OutletRecord | RowError:
        if raw.problem:
            return RowError(raw.line, "row", raw.problem)
        values = raw.values
        for name, source in self.required:
            if source not in values:
                columns = ", ".join(list(values)[:12])
                return RowError(raw.line, name, f"no column {source!r} in the file (columns: "
                                                f"{columns}); map it with --columns {name}=...")
        cells = {name: values.get(source) for name, source in self.sources}
        try:
            fields = _fields(cells, self.datum, self.parsed_hours)
        except _Reject as exc:
            return RowError(raw.line, exc.field, exc.message)
        if self.seen is not None:
            first = self.seen.setdefault(fields["code"], raw.line)
            if first != raw.line:
                return RowError(raw.line, "code", f"duplicate code {fields['code']!r}: also on "
                                                  f"line {first} (and line {raw.line})")
        return OutletRecord(line=raw.line, **fields)


def validate_row(raw: RawRow, mapping: Mapping[str, str], crs: Datum | str,
                 *, seen: dict[str, int] | None = None) -> OutletRecord | RowError:
    """Check one row under a column mapping (field → source column, default the field's name).

    Pass the same `seen` dict (code → line) for every row of a file to catch duplicate codes.
    """
    return _FileCheck(mapping, crs, seen)(raw)


def validate_rows(rows: Iterable[RawRow], mapping: Mapping[str, str],
                  crs: Datum | str) -> Iterator[OutletRecord | RowError]:
    """validate_row over a whole file, reporting duplicate codes with both line numbers."""
    check = _FileCheck(mapping, crs, {})
    for raw in rows:
        yield check(raw)
