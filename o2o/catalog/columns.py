"""The outlets of a catalog as columns: numbers in arrays, strings in one shared byte table.

A million outlets as Python objects cost a worker over a gigabyte and most of a minute to
build. As columns they are a few hundred bytes each, can be mapped from a file shared by
every worker on the host (`o2o.catalog.snapshot`), and an outlet's `OutletView` is built
only when a reply shows it.

Rows of the base columns are in the nearest index's tree order, so the index's own arrays
(ids, positions, status, tags) are the catalog's: nothing is held twice. Each row's strings
are one record in `text` (UTF-8, fields separated by NUL) from `text_start[row]`; time
zones, timetables, regions and tags are small shared tables (`Tables`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from hashlib import blake2b

import numpy as np

from o2o.catalog.hours import OpeningHours
from o2o.catalog.views import OutletView
from o2o.geo._kdtree import find_positions
from o2o.geo.index import STATUS_CODE, STATUSES

#: The string fields of a row's record, in order.
TEXT_FIELDS = ("code", "name", "address", "city", "district", "phone", "image_url",
               "geofence_wkt")
SEP = "\x00"
EPOCH = date(1970, 1, 1).toordinal()
OPEN = STATUS_CODE["open"]


def code_hash(code: str) -> int:
    """The 63-bit key of an outlet code in the code lookup."""
    return int.from_bytes(blake2b(code.encode(), digest_size=8).digest(), "little") >> 1


@dataclass
class Tables:
    """The small shared tables rows point into; append-only while a catalog lives, so a
    reader never meets an id it cannot resolve."""

    timezones: list[str] = field(default_factory=list)
    #: (weekly hours JSON, exceptions JSON, time zone) of each distinct timetable.
    timetables: list[tuple[str, str, str]] = field(default_factory=list)
    regions: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (code, name)
    tags: list[str] = field(default_factory=list)
    compiled: dict[int, OpeningHours] = field(default_factory=dict, repr=False)

    def copy(self) -> Tables:
        """A copy to grow on its own (a fold's new base, built beside the live one)."""
        return Tables(list(self.timezones), list(self.timetables), dict(self.regions),
                      list(self.tags), dict(self.compiled))

    def to_json(self) -> dict[str, object]:
        return {"timezones": self.timezones, "timetables": self.timetables,
                "regions": {str(k): list(v) for k, v in self.regions.items()},
                "tags": self.tags}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Tables:
        regions = data["regions"]
        assert isinstance(regions, dict)
        return cls(list(data["timezones"]),  # type: ignore[call-overload]
                   [tuple(t) for t in data["timetables"]],  # type: ignore[attr-defined,misc]
                   {int(k): (v[0], v[1]) for k, v in regions.items()},
                   list(data["tags"]))  # type: ignore[call-overload]

    def hours(self, timetable: int) -> OpeningHours | None:
        """The compiled timetable (compiled once, on first use)."""
        if timetable < 0:
            return None
        found = self.compiled.get(timetable)
        if found is None:
            weekly, exceptions, tz = self.timetables[timetable]
            found = self.compiled[timetable] = OpeningHours.compile(
                json.loads(weekly), json.loads(exceptions) or {}, tz)
        return found


class OutletColumns:
    """Rows of outlets as arrays (see the module docstring); read-only once built."""

    def __init__(self, arrays: Mapping[str, np.ndarray], tables: Tables) -> None:
        self.arrays = arrays
        self.tables = tables
        self.ids = arrays["ids"]
        self.lats, self.lngs = arrays["lats"], arrays["lngs"]
        self.status = arrays["status"]
        self.tag_start, self.tag_ids = arrays["row_start"], arrays["row_tags"]
        self.region, self.tz = arrays["c_region"], arrays["c_tz"]
        self.timetable, self.reopen = arrays["c_hours"], arrays["c_reopen"]
        self.radius = arrays["c_radius"]
        self.text_start, self.text = arrays["c_text_start"], arrays["c_text"]
        self.code_keys, self.code_rows = arrays["c_code_key"], arrays["c_code_row"]
        # Rows by ascending id: the index's own lookup when these are a base's rows.
        self._by_id = arrays["pos_by_id"] if "pos_by_id" in arrays else np.argsort(
            self.ids, kind="stable")

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, outlet_id: int) -> int | None:
        row = int(find_positions(self.ids, self._by_id, np.array([outlet_id], np.int64))[0])
        return row if row >= 0 else None

    def rows_of_code(self, code: str) -> list[int]:
        """Rows whose code is `code` (checked, not just hashed)."""
        key = code_hash(code)
        lo = int(np.searchsorted(self.code_keys, key))
        rows = []
        while lo < len(self.code_keys) and int(self.code_keys[lo]) == key:
            row = int(self.code_rows[lo])
            if self.fields(row)[0] == code:
                rows.append(row)
            lo += 1
        return rows

    def fields(self, row: int) -> list[str]:
        """The row's strings, in TEXT_FIELDS order."""
        raw = bytes(self.text[int(self.text_start[row]):int(self.text_start[row + 1])])
        return raw.decode().split(SEP)

    def view(self, row: int) -> OutletView:
        """The outlet of a row, as every query sees it."""
        code, name, address, city, district, phone, image_url, wkt = self.fields(row)
        region_id = int(self.region[row])
        region = self.tables.regions.get(region_id) if region_id >= 0 else None
        reopen = int(self.reopen[row])
        first, last = int(self.tag_start[row]), int(self.tag_start[row + 1])
        names = self.tables.tags
        return OutletView(
            id=int(self.ids[row]), code=code, name=name, address=address, city=city,
            district=district, phone=phone, lat=float(self.lats[row]), lng=float(self.lngs[row]),
            timezone=self.tables.timezones[int(self.tz[row])],
            region_id=region_id if region_id >= 0 else None,
            region_code=region[0] if region else None, region_name=region[1] if region else None,
            status=STATUSES[int(self.status[row])],
            reopen_on=date.fromordinal(reopen + EPOCH) if reopen >= 0 else None,
            tags=frozenset(names[int(t)] for t in self.tag_ids[first:last]),
            image_url=image_url, geofence_radius_m=int(self.radius[row]),
            geofence_wkt=wkt or None, hours=self.tables.hours(int(self.timetable[row])),
        )

    def text_matches(self, key: str) -> np.ndarray:
        """Rows whose strings contain `key` (ASCII letters in any case), ascending."""
        pattern = re.compile(re.escape(key.encode()), re.IGNORECASE)
        starts = [m.start() for m in pattern.finditer(memoryview(self.text))]
        if not starts:
            return np.zeros(0, np.int64)
        rows = np.searchsorted(self.text_start, np.array(starts), side="right") - 1
        return np.unique(rows)
