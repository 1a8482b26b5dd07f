"""What both loaders share: the summary, and a record as the outlet columns it writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from o2o.catalog.importer.records import OutletRecord

__all__ = ["COLUMNS", "JSON_COLUMNS", "Encoder", "ImportSummary", "json_text"]

#: Outlet columns an import sets, in the order `Encoder.values` gives them (location, version,
#: timestamps and deleted_at are the loaders' business).
COLUMNS = ("code", "name", "address", "city", "district", "phone", "lat", "lng", "timezone",
           "region_id", "status", "reopen_on", "tags", "hours", "exceptions", "image_url",
           "geofence_radius_m")
JSON_COLUMNS = ("tags", "hours", "exceptions")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (or, on a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected


def json_text(value: Any) -> str:
    """JSON as SQLAlchemy's JSON type writes it (plain json.dumps), so stored text matches."""
    return json.dumps(value)


class Encoder:
    """Records as column values, JSON serialised once per distinct value: records of one
    file share their hours dicts and repeat a few tag sets, and dumping 100k of them costs
    more than the rest of the row."""

    def __init__(self, region_ids: dict[str, int]) -> None:
        self.region_ids = region_ids
        self._by_id: dict[int, tuple[Any, str]] = {}
        self._tags: dict[frozenset[str], str] = {}

    def json(self, value: Any) -> str:
        """json_text(value), memoised by identity (the entry keeps the object alive)."""
        hit = self._by_id.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = json_text(value)
        self._by_id[id(value)] = (value, text)
        return text

    def tags(self, tags: frozenset[str]) -> str:
        text = self._tags.get(tags)
        if text is None:
            text = self._tags[tags] = json_text(sorted(tags))
        return text

    def values(self, rec: OutletRecord) -> tuple[Any, ...]:
        """The record in `COLUMNS` order; tags sorted, JSON columns as JSON text."""
        return (rec.code, rec.name, rec.address, rec.city, rec.district, rec.phone, rec.lat,
                rec.lng, rec.timezone, self.region_ids[rec.region] if rec.region else None,
                rec.status, rec.reopen_on, self.tags(rec.tags), self.json(rec.hours),
                self.json(rec.exceptions), rec.image_url, rec.geofence_radius_m)
