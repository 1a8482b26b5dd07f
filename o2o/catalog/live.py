"""What a worker's readers see of the outlets: a base (columns, shared and read-only) and a
small overlay of the outlets changed since, with the nearest index over both.

A `Live` is replaced whole by the catalog's one writer, never changed in place except for
the index's pending rows (which the index publishes atomically) and a cache of built views;
readers take `catalog.live` once and read it without locks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from o2o.catalog.columns import OutletColumns
from o2o.catalog.views import OutletView, index_entry
from o2o.geo.index import Base, NearestIndex

#: Index rows kept for changes between two bases; the catalog folds long before it fills.
PENDING_ROWS = 8192
#: Built views of base rows kept per worker (the outlets replies show again and again).
CACHE_VIEWS = 4096


@dataclass(eq=False)
class Live:
    """A base, the overlay on it, and the index over both (see the module docstring)."""

    cols: OutletColumns
    index: NearestIndex
    #: Outlets changed since the base: their view now, None when gone (or unservable).
    overlay: dict[int, OutletView | None] = field(default_factory=dict)
    #: The newest change number behind each overlay entry (a new base covers it or not).
    overlay_seq: dict[int, int] = field(default_factory=dict)
    by_code: dict[str, int] = field(default_factory=dict)  # codes of overlay views
    size: int = 0
    base_seq: int = 0
    identity: tuple[int, int] | None = None  # the snapshot file mapped, if any
    cache: dict[int, OutletView] = field(default_factory=dict)

    @classmethod
    def on(cls, cols: OutletColumns, *, base_seq: int,
           identity: tuple[int, int] | None = None) -> Live:
        """A live catalog on a base with an empty overlay; the index adopts the base's
        arrays (shared, not copied) when they hold a built tree."""
        index = NearestIndex.from_base(Base.from_arrays(cols.arrays), cols.tables.tags,
                                       pending_capacity=PENDING_ROWS)
        return cls(cols, index, size=len(cols), base_seq=base_seq, identity=identity)

    # ---- reading ---------------------------------------------------------------------------
    def outlet(self, outlet_id: int) -> OutletView | None:
        if outlet_id in self.overlay:
            return self.overlay[outlet_id]
        view = self.cache.get(outlet_id)
        if view is None:
            row = self.cols.row_of(outlet_id)
            if row is None:
                return None
            view = self.cols.view(row)
            if len(self.cache) >= CACHE_VIEWS:
                self.cache = {}
            self.cache[outlet_id] = view
        return view

    def outlet_by_code(self, code: str) -> OutletView | None:
        oid = self.by_code.get(code)
        if oid is not None:
            return self.overlay.get(oid)
        for row in self.cols.rows_of_code(code):
            oid = int(self.cols.ids[row])
            if oid not in self.overlay:  # else that outlet's code is no longer this one
                return self.outlet(oid)
        return None

    def outlets(self) -> Iterator[OutletView]:
        """Every outlet (slow at scale: for tools and tests, not for requests)."""
        for row in range(len(self.cols)):
            if int(self.cols.ids[row]) not in self.overlay:
                yield self.cols.view(row)
        yield from (v for v in self.overlay.values() if v is not None)

    # ---- writing (the catalog's writer only) -----------------------------------------------
    def patched(self, changed: Mapping[int, OutletView | None], seq: int) -> Live:
        """A new Live with `changed` applied to the overlay and the index (the index is
        shared with this one: its pending rows are published atomically)."""
        overlay, overlay_seq, by_code = dict(self.overlay), dict(self.overlay_seq), dict(self.by_code)
        size = self.size
        for oid, view in changed.items():
            before = self.outlet(oid)
            if before is not None:
                size -= 1
                if by_code.get(before.code) == oid:
                    del by_code[before.code]
            overlay[oid], overlay_seq[oid] = view, max(seq, overlay_seq.get(oid, 0))
            if view is None:
                self.index.remove(oid)
                continue
            size += 1
            by_code[view.code] = oid
            self.index.upsert(index_entry(view))
        return Live(self.cols, self.index, overlay, overlay_seq, by_code, size, self.base_seq,
                    self.identity, self.cache)

    def carried_to(self, new: Live, *, holes: frozenset[int] = frozenset()) -> Live:
        """`new` (a fresh base) with this overlay's entries it does not cover: those whose
        change is newer than its base, or one of the holes its base was still waiting on."""
        keep = {oid: view for oid, view in self.overlay.items()
                if self.overlay_seq[oid] > new.base_seq or self.overlay_seq[oid] in holes}
        if not keep:
            return new
        carried = new.patched(keep, 0)
        carried.overlay_seq.update({oid: self.overlay_seq[oid] for oid in keep})
        return carried
