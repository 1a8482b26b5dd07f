"""One outlet as the index sees it, and whether a stored row already holds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from o2o.errors import ValidationError
from o2o.geo._layers import Layer
from o2o.geo._store import STATUS_CODE, STATUSES, Base, Pending, Snapshot


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One outlet as the index sees it: WGS-84 position, status and tags."""

    id: int
    lat: float
    lng: float
    status: str = "open"
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lng <= 180.0):
            raise ValidationError(
                f"outlet {self.id}: position ({self.lat}, {self.lng}) is not valid degrees",
                details=[{"field": "lat/lng", "value": [self.lat, self.lng]}],
            )
        if self.status not in STATUS_CODE:
            raise ValidationError(
                f"outlet {self.id}: unknown status {self.status!r}",
                details=[{"field": "status", "allowed": list(STATUSES)}],
            )
        if not isinstance(self.tags, frozenset):  # accept any collection, or one tag as a str
            tags = (self.tags,) if isinstance(self.tags, str) else self.tags
            object.__setattr__(self, "tags", frozenset(tags))
        if not all(isinstance(tag, str) for tag in self.tags):
            raise ValidationError(f"outlet {self.id}: tags must be strings",
                                  details=[{"field": "tags"}])


def same_row(snap: Snapshot, rows: Base | Pending, row: int | None, entry: IndexEntry, code: int,
          layers: list[Layer], layer_codes: list[int]) -> bool:
    """Whether the live row already holds exactly this entry, with these layer codes (then
    an upsert is a no-op)."""
    if row is None:
        return False
    pending = isinstance(rows, Pending)
    for layer, layer_code in zip(layers, layer_codes, strict=True):
        data = layer.data
        if (data.p_status if pending else data.status)[row] != layer_code:
            return False
    return (float(rows.lats[row]), float(rows.lngs[row]), int(rows.status[row])) == (
        entry.lat, entry.lng, code,
    ) and snap.vocab.tag_names(rows.tag_ids(row)) == entry.tags  # fmt: skip
