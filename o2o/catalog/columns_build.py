"""Building `OutletColumns`: from stored rows, and a new base from an old one and its overlay.

`RowBuilder` turns stored outlet rows into columns, checking each the way the index and the
views would (a row that cannot be served raises, for the catalog to skip and count). `base`
puts columns in the nearest index's tree order and adds the index's arrays; `fold` makes the
next base from a base, minus the outlets an overlay replaced, plus the overlay's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from o2o.catalog.columns import EPOCH, SEP, OutletColumns, Tables, code_hash
from o2o.catalog.hours import OpeningHours
from o2o.errors import O2OError, ValidationError
from o2o.geo import _store
from o2o.geo.index import STATUS_CODE

#: What a stored row that cannot be served raises while it is turned into columns: bad JSON,
#: hours or times that do not parse, an unknown time zone or status, degrees out of range.
BAD_ROW_ERRORS = (O2OError, ValueError, TypeError, LookupError, ArithmeticError)
#: Catalog columns (besides the index's), each with its dtype.
CATALOG_DTYPES = {"c_region": np.int32, "c_tz": np.int16, "c_hours": np.int32,
                  "c_reopen": np.int32, "c_radius": np.int32}


NUMBERS = ("ids", "lats", "lngs", "status", *CATALOG_DTYPES)
_DTYPES = {"ids": np.int64, "lats": np.float64, "lngs": np.float64, "status": np.int8,
           **CATALOG_DTYPES}


@dataclass
class Parts:
    """Rows as columns in some order: numbers, tag ids per row, and each row's record."""

    numbers: dict[str, np.ndarray]
    tag_lengths: np.ndarray
    tag_flat: np.ndarray
    records: list[bytes]


class RowBuilder:
    """Accumulates stored outlet rows (`o2o.catalog.loading.VIEW_COLUMNS` order) as columns."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self._tz = {name: i for i, name in enumerate(tables.timezones)}
        self._timetables = {key: i for i, key in enumerate(tables.timetables)}
        self._tag_ids = {name: i for i, name in enumerate(tables.tags)}
        self._tags: dict[str | None, list[int]] = {}
        self.values: list[tuple[Any, ...]] = []
        self.tags: list[list[int]] = []
        self.records: list[bytes] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, row: Any) -> None:
        """Append one stored row; raises (nothing appended) when it cannot be served."""
        (oid, code, name, address, city, district, phone, lat, lng, tz_name, region_id,
         status, reopen_on, hours, exceptions, tags_text, image_url, radius, wkt) = row
        lat, lng = float(lat), float(lng)
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise ValidationError(f"position ({lat}, {lng}) is not valid degrees")
        code_ = STATUS_CODE[str(status)]  # KeyError: unknown status
        timetable = self._timetable(hours, exceptions, tz_name)
        tags = self._tags.get(tags_text)
        if tags is None:
            tags = self._tag_list(tags_text)
        text = SEP.join((code, name, address or "", city or "", district or "", phone or "",
                         image_url or "", wkt or ""))
        if text.count(SEP) != 7:
            raise ValueError("a text field holds a NUL character")
        tz = self._tz.get(tz_name)
        if tz is None:
            tz = self._tz[tz_name] = len(self.tables.timezones)
            self.tables.timezones.append(tz_name)
        if reopen_on is not None and not isinstance(reopen_on, date):
            reopen_on = date.fromisoformat(str(reopen_on))
        self.values.append((oid, lat, lng, code_, -1 if region_id is None else region_id, tz,
                            timetable, -1 if reopen_on is None else reopen_on.toordinal() - EPOCH,
                            radius or 0))
        self.tags.append(tags)
        self.records.append(text.encode())

    def _timetable(self, hours: str | None, exceptions: str | None, tz: str) -> int:
        """The row's timetable id; compiled (so checked) when first met."""
        key = (hours or "null", exceptions or "{}", tz)
        found = self._timetables.get(key)
        if found is not None:
            return found
        weekly = json.loads(key[0])
        compiled = OpeningHours.compile(weekly or {}, json.loads(key[1]) or {}, tz)
        if weekly is None:  # unknown hours; the zone was still checked
            self._timetables[key] = -1
            return -1
        found = self._timetables[key] = len(self.tables.timetables)
        self.tables.timetables.append(key)
        self.tables.compiled[found] = compiled
        return found

    def _tag_list(self, text: str | None) -> list[int]:
        tags = json.loads(text) if text else []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValidationError(f"tags must be a list of strings, not {text}")
        for tag in sorted(set(tags) - self._tag_ids.keys()):
            self._tag_ids[tag] = len(self.tables.tags)
            self.tables.tags.append(tag)
        found = self._tags[text] = sorted({self._tag_ids[t] for t in tags})
        return found

    def parts(self) -> Parts:
        """The rows as columns, in the order they were added."""
        n = len(self.values)
        columns = list(zip(*self.values, strict=True)) if n else [()] * len(NUMBERS)
        numbers = {name: np.array(col, _DTYPES[name]) for name, col in
                   zip(NUMBERS, columns, strict=True)}
        lengths = np.fromiter(map(len, self.tags), np.int64, n)
        flat = np.fromiter((t for row in self.tags for t in row), np.int64, int(lengths.sum()))
        return Parts(numbers, lengths, flat, self.records)

    def columns(self) -> OutletColumns:
        """The rows as columns in the order added (an overlay: no index arrays)."""
        return OutletColumns(arrays(self.parts(), None), self.tables)

    def base(self) -> OutletColumns:
        """The rows as a base: in tree order, with the index's arrays."""
        return OutletColumns(base(self.parts(), self.tables), self.tables)


def _starts(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def arrays(parts: Parts, order: np.ndarray | None) -> dict[str, np.ndarray]:
    """Row columns (in `order` of the parts' rows, when given) with the code lookup."""
    records = parts.records if order is None else [parts.records[i] for i in order.tolist()]
    if order is None:
        out = dict(parts.numbers)
        out["row_start"], out["row_tags"] = _starts(parts.tag_lengths), parts.tag_flat
    else:
        out = {name: col[order] for name, col in parts.numbers.items()}
        lengths, out["row_tags"] = _store.gather_rows(_starts(parts.tag_lengths),
                                                      parts.tag_flat, order)
        out["row_start"] = _starts(lengths)
    out["c_text_start"] = _starts(np.fromiter(map(len, records), np.int64, len(records)))
    out["c_text"] = np.frombuffer(b"".join(records), np.uint8)
    keys = np.fromiter((code_hash(r[:r.find(b"\x00")].decode()) for r in records), np.int64,
                       len(records))
    by_key = np.argsort(keys, kind="stable")
    out["c_code_key"], out["c_code_row"] = keys[by_key], by_key.astype(np.int32)
    return out


def base(parts: Parts, tables: Tables) -> dict[str, np.ndarray]:
    """Row columns in the nearest index's tree order, with the index's arrays added (the
    index's ids, positions, status and tags are the catalog's: not held twice)."""
    nums = parts.numbers
    built, perm = _store.Base.build(nums["ids"], nums["lats"], nums["lngs"], nums["status"],
                                    _starts(parts.tag_lengths), parts.tag_flat, len(tables.tags))
    out = arrays(parts, perm)
    out.update(built.to_arrays())
    return out


def fold(old: OutletColumns, replaced: Sequence[int], overlay: Parts,
         tables: Tables) -> dict[str, np.ndarray]:
    """The next base: `old` without the rows of `replaced` ids, plus `overlay`'s rows."""
    keep = np.ones(len(old), bool)
    gone = [r for r in (old.row_of(i) for i in replaced) if r is not None]
    keep[gone] = False
    rows = np.flatnonzero(keep)
    lengths, flat = _store.gather_rows(old.tag_start, old.tag_ids, rows)
    text, starts = old.text, old.text_start.tolist()
    records = [bytes(text[starts[r]:starts[r + 1]]) for r in rows.tolist()]
    numbers = {name: np.concatenate([old.arrays[name][rows], overlay.numbers[name]])
               for name in NUMBERS}
    return base(Parts(numbers, np.concatenate([lengths, overlay.tag_lengths]),
                      np.concatenate([flat, overlay.tag_flat]), records + overlay.records),
                tables)


def build(rows: Any, tables: Tables, skip: Callable[[Any, Exception], None]) -> RowBuilder:
    """Rows added to a new builder; those that cannot be served go to `skip`."""
    builder = RowBuilder(tables)
    for row in rows:
        try:
            builder.add(row)
        except BAD_ROW_ERRORS as exc:
            skip(row, exc)
    return builder
