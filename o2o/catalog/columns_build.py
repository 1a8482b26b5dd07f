"""Building `OutletColumns`: from stored rows, and a new base from an old one and its overlay.

`RowBuilder` turns stored outlet rows into columns, checking each the way the index and the
views would (a row that cannot be served raises, for the catalog to skip and count). `base`
puts columns in the nearest index's tree order and adds the index's arrays; `fold` makes the
next base from a base, minus the outlets an overlay replaced, plus the overlay's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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


class RowBuilder:
    """Accumulates stored outlet rows (`o2o.catalog.runtime.VIEW_COLUMNS`) as columns."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self._tz = {name: i for i, name in enumerate(tables.timezones)}
        self._timetables = {key: i for i, key in enumerate(tables.timetables)}
        self._tag_ids = {name: i for i, name in enumerate(tables.tags)}
        self._tags: dict[str | None, list[int]] = {}
        self.cols: dict[str, list[Any]] = {name: [] for name in (
            "ids", "lats", "lngs", "status", *CATALOG_DTYPES)}
        self.tag_lengths: list[int] = []
        self.tag_flat: list[int] = []
        self.records: list[bytes] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, row: Any) -> None:
        """Append one stored row; raises (nothing appended) when it cannot be served."""
        lat, lng = float(row.lat), float(row.lng)
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise ValidationError(f"position ({lat}, {lng}) is not valid degrees")
        status = STATUS_CODE[str(row.status)]  # KeyError: unknown status
        timetable = self._timetable(row.hours, row.exceptions, row.timezone)
        tags = self._tag_list(row.tags)
        texts = (row.code, row.name, row.address, row.city, row.district, row.phone,
                 row.image_url, row.geofence_wkt or "")
        if any(SEP in (t or "") for t in texts):
            raise ValueError("a text field holds a NUL character")
        record = SEP.join(t or "" for t in texts).encode()
        tz = self._tz.get(row.timezone)
        if tz is None:
            tz = self._tz[row.timezone] = len(self.tables.timezones)
            self.tables.timezones.append(row.timezone)
        values = (row.id, lat, lng, status, -1 if row.region_id is None else row.region_id, tz,
                  timetable, -1 if row.reopen_on is None else row.reopen_on.toordinal() - EPOCH,
                  row.geofence_radius_m or 0)
        for column, value in zip(self.cols.values(), values, strict=True):
            column.append(value)
        self.tag_lengths.append(len(tags))
        self.tag_flat.extend(tags)
        self.records.append(record)

    def _timetable(self, hours: str | None, exceptions: str | None, tz: str) -> int:
        """The row's timetable id; compiled (so checked) when first met."""
        if not hours or json.loads(hours) is None:
            OpeningHours.compile({}, {}, tz)  # the zone must still be known
            return -1
        key = (hours, exceptions or "{}", tz)
        found = self._timetables.get(key)
        if found is None:
            compiled = OpeningHours.compile(json.loads(hours), json.loads(key[1]) or {}, tz)
            found = self._timetables[key] = len(self.tables.timetables)
            self.tables.timetables.append(key)
            self.tables.compiled[found] = compiled
        return found

    def _tag_list(self, text: str | None) -> list[int]:
        found = self._tags.get(text)
        if found is None:
            tags = json.loads(text) if text else []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValidationError(f"tags must be a list of strings, not {text}")
            for tag in sorted(set(tags) - self._tag_ids.keys()):
                self._tag_ids[tag] = len(self.tables.tags)
                self.tables.tags.append(tag)
            found = self._tags[text] = sorted({self._tag_ids[t] for t in tags})
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        """The rows as columns, in the order they were added."""
        out = {"ids": np.array(self.cols["ids"], np.int64),
               "lats": np.array(self.cols["lats"], np.float64),
               "lngs": np.array(self.cols["lngs"], np.float64),
               "status": np.array(self.cols["status"], np.int8)}
        for name, dtype in CATALOG_DTYPES.items():
            out[name] = np.array(self.cols[name], dtype)
        out["row_start"] = _starts(np.array(self.tag_lengths, np.int64))
        out["row_tags"] = np.array(self.tag_flat, np.int64)
        out["c_text_start"] = _starts(np.fromiter(map(len, self.records), np.int64,
                                                  len(self.records)))
        out["c_text"] = np.frombuffer(b"".join(self.records), np.uint8).copy()
        return with_code_lookup(out)

    def columns(self) -> OutletColumns:
        """The rows as columns in the order added (an overlay: no index arrays)."""
        return OutletColumns(self.arrays(), self.tables)

    def base(self) -> OutletColumns:
        """The rows as a base: in tree order, with the index's arrays."""
        return OutletColumns(base(self.arrays(), self.tables), self.tables)


def _starts(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def with_code_lookup(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the code lookup (sorted code keys and their rows) to row columns."""
    starts, text = arrays["c_text_start"], arrays["c_text"].tobytes()
    keys = np.fromiter((code_hash(text[s:text.find(b"\x00", s)].decode())
                        for s in starts[:-1].tolist()), np.int64, len(starts) - 1)
    order = np.argsort(keys, kind="stable")
    arrays["c_code_key"], arrays["c_code_row"] = keys[order], order.astype(np.int32)
    return arrays


def take(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The listed rows of row columns (without the code lookup), in that order."""
    out = {name: arrays[name][rows] for name in ("ids", "lats", "lngs", "status",
                                                 *CATALOG_DTYPES)}
    lengths, out["row_tags"] = _store.gather_rows(arrays["row_start"], arrays["row_tags"], rows)
    out["row_start"] = _starts(lengths)
    lengths, text = _store.gather_rows(arrays["c_text_start"], arrays["c_text"], rows)
    out["c_text_start"], out["c_text"] = _starts(lengths), text.astype(np.uint8)
    return out


def concat(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Row columns one after the other (CSR offsets shifted)."""
    out = {}
    for name in ("ids", "lats", "lngs", "status", *CATALOG_DTYPES, "row_tags", "c_text"):
        out[name] = np.concatenate([p[name] for p in parts])
    for starts in ("row_start", "c_text_start"):
        lengths = np.concatenate([np.diff(p[starts]) for p in parts])
        out[starts] = _starts(lengths)
    return out


def base(arrays: dict[str, np.ndarray], tables: Tables) -> dict[str, np.ndarray]:
    """Row columns in the nearest index's tree order, with the index's arrays added."""
    built = _store.Base(arrays["ids"], arrays["lats"], arrays["lngs"],
                        arrays["status"].astype(np.int64), arrays["row_start"],
                        arrays["row_tags"], len(tables.tags))
    order = np.argsort(arrays["ids"], kind="stable")
    perm = order[np.searchsorted(arrays["ids"][order], built.ids)]
    out = take(arrays, perm)
    out.update(base_arrays(built))
    return with_code_lookup(out)


def base_arrays(built: _store.Base) -> dict[str, np.ndarray]:
    """The arrays that define a built index base (see `adopt_base`)."""
    out = {name: getattr(built, name) for name in built.__slots__
           if name not in ("depth", "wants")}
    out["depth"] = np.array([built.depth], np.int64)
    return out


def adopt_base(arrays: dict[str, np.ndarray]) -> _store.Base:
    """An index base over existing arrays, not copied (they may be a read-only mapping),
    except the one column the index writes later (`attrs`, its dead-at stamps)."""
    built = _store.Base.__new__(_store.Base)
    for name in built.__slots__:
        if name not in ("depth", "wants"):
            setattr(built, name, arrays[name])
    built.attrs = np.array(arrays["attrs"])
    built.depth = int(arrays["depth"][0])
    built.wants = {}
    return built


def fold(old: OutletColumns, replaced: Sequence[int], overlay: dict[str, np.ndarray],
         tables: Tables) -> dict[str, np.ndarray]:
    """The next base: `old` without the rows of `replaced` ids, plus `overlay`'s rows."""
    keep = np.ones(len(old), bool)
    rows = [r for r in (old.row_of(i) for i in replaced) if r is not None]
    keep[rows] = False
    parts = [take(dict(old.arrays), np.flatnonzero(keep))]
    if len(overlay["ids"]):
        parts.append(overlay)
    return base(concat(parts), tables)


def build(rows: Any, tables: Tables, skip: Callable[[Any, Exception], None]) -> RowBuilder:
    """Rows added to a new builder; those that cannot be served go to `skip`."""
    builder = RowBuilder(tables)
    for row in rows:
        try:
            builder.add(row)
        except BAD_ROW_ERRORS as exc:
            skip(row, exc)
    return builder
