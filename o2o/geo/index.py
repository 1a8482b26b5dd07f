"""Exact k-nearest outlets by great-circle distance, live under admin changes.

Points are unit vectors in a compiled k-d tree (`_kdtree`), where chord distance ranks exactly
like great-circle distance, so answers match a brute-force haversine ranking anywhere on the
globe, poles and antimeridian included. Filters (status, tags) are applied inside the search,
which therefore keeps going until it has k matches or runs out of points.

Changes go to a small pending buffer that every query also scans; when it is full the tree is
rebuilt (amortised compaction). One writer and any number of readers may run at once: readers
take the current immutable snapshot and never wait for, nor see half of, a change.
Coordinates are WGS-84 degrees as (lat, lng); convert GCJ-02/BD-09 input with `o2o.geo.datum`.

A built tree (`Base`) is only arrays: `base_arrays()` hands them out to be saved and
`from_base(Base.from_arrays(...))` starts an index on saved ones without copying them (e.g.
read-only maps of one file shared by every worker). Status layers (`add_layer`, `o2o.geo._layers`)
search the same tree with another status per outlet, e.g. "open in this minute".
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from o2o.errors import ValidationError
from o2o.geo import _kdtree
from o2o.geo._entry import IndexEntry, same_row
from o2o.geo._layers import Layer, StaleBase, carried, layer_data
from o2o.geo._query import (
    UNTAGGED,
    Hit,
    hits,
    max_chord2,
    search,
    search_with_predicate,
    status_mask,
)
from o2o.geo._store import (
    STATUS_CODE,
    STATUSES,
    Base,
    Pending,
    Snapshot,
    Vocabulary,
    check_arrays,
    gather_rows,
    renumber,
    status_codes,
    tag_columns,
    unit_vector,
)

__all__ = ["OPEN_ONLY", "STATUSES", "STATUS_CODE", "Base", "Hit", "IndexEntry", "Layer",
           "NearestIndex", "StaleBase"]

OPEN_ONLY = frozenset({"open"})
_NEVER = _kdtree.NEVER
_EMPTY = np.zeros(0, np.int64)


class NearestIndex:
    """In-memory exact nearest-outlet index (see the module docstring).

    Construct it at startup: the first construction on a machine compiles the kernels (~6 s),
    later ones load them from numba's on-disk cache (~0.3 s per process).
    """

    def __init__(self, *, pending_capacity: int = 1024) -> None:
        if pending_capacity < 1:
            raise ValueError("pending_capacity must be positive")
        self._capacity = pending_capacity
        self._lock = threading.Lock()  # writers only; readers never take it
        self._slots: dict[int, int] = {}  # id -> pending row of its live version (writer's)
        self._dead_base = 0
        self._status_masks: dict[frozenset[str], int] = {OPEN_ONLY: 1}
        self._layers: list[Layer] = []  # live layers, filled by every upsert (writer's)
        empty = np.zeros(0)
        base = Base.build(_EMPTY, empty, empty, _EMPTY, np.zeros(1, np.int64), _EMPTY, 0)[0]
        self._snap = Snapshot(base, Pending(pending_capacity), 0, 0, Vocabulary(), 0)
        # Compile (or load from numba's cache) the query kernel now, not on a customer's first
        # query: a cold compile takes seconds and WeChat gives a reply 5 s.
        search(0.0, 0.0, 4.0, 1, UNTAGGED, self._snap, None, 1)

    @classmethod
    def from_base(cls, base: Base, vocab_names: Sequence[str], *,
                  pending_capacity: int = 1024) -> NearestIndex:
        """An index on an adopted base (`Base.from_arrays`, e.g. over a mapped snapshot) and
        its tag names (`vocabulary_names()` when it was saved), with an empty pending buffer.
        The base's arrays are only read, except `dead_at`: rows stamped dead when the base
        was saved stay dead."""
        index = cls(pending_capacity=pending_capacity)
        n_tags = len(base.tag_start) - 1
        if len(vocab_names) < n_tags:
            raise ValueError(f"the base uses {n_tags} tags, {len(vocab_names)} names given")
        dead = base.dead_at != _NEVER
        base.dead_at[dead] = 0  # dead at every version this index will have
        with index._lock:
            index._publish_new_base(base, Vocabulary(vocab_names), 1, dead=int(dead.sum()))
        if len(base.ids):  # compile (or load) the kernel for these arrays (e.g. read-only)
            search(0.0, 0.0, 4.0, 1, UNTAGGED, index._snap, None, 1)
        return index

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._snap.size

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, int) and self.get(id_) is not None

    @property
    def version(self) -> int:
        """Bumped by every change (build, upsert that changes something, remove)."""
        return self._snap.version

    def get(self, id_: int) -> IndexEntry | None:
        """The live entry with this id, as last written, or None."""
        snap = self._snap
        rows: Base | Pending = snap.pending
        found = np.flatnonzero(snap.pending.ids[: snap.count] == id_).tolist()
        row = next((r for r in reversed(found) if rows.dead_at[r] > snap.version), None)
        if row is None:
            rows, row = snap.base, snap.base.position(id_, alive_at=snap.version)
            if row is None:
                return None
        return IndexEntry(
            id_, float(rows.lats[row]), float(rows.lngs[row]),
            STATUSES[rows.status[row]], snap.vocab.tag_names(rows.tag_ids(row)),
        )  # fmt: skip

    def nearest(
        self,
        lat: float,
        lng: float,
        k: int = 5,
        *,
        max_distance_m: float | None = None,
        statuses: Iterable[str] = OPEN_ONLY,
        tags: Iterable[str] | None = None,
        predicate: Callable[[int], bool] | None = None,
        layer: Layer | None = None,
    ) -> list[Hit]:
        """The k nearest outlets passing every filter (all `tags` must match), nearest first.

        A single status or tag may be given as a plain string. With a `layer`, `statuses`
        filters the layer's status of each outlet instead of its own (an ended layer answers
        as of the snapshot it ended at).
        """
        snap, data = self._snap, None
        while layer is not None:  # the layer's arrays for this snapshot's buffer
            data = layer.data  # a writer moves a layer before it publishes the snapshot
            ended = layer.ended_at
            if ended is not None:
                snap = ended
                break
            if data.pending is snap.pending:
                break
            snap = self._snap
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise ValidationError(
                f"position ({lat}, {lng}) is not valid degrees",
                details=[{"field": "lat/lng", "value": [lat, lng]}],
            )
        if not isinstance(k, int) or k < 0:
            raise ValidationError(f"k must be a non-negative integer, not {k!r}")
        mask = self._status_masks.get(statuses) if isinstance(statuses, frozenset) else None
        if mask is None:
            mask = status_mask((statuses,) if isinstance(statuses, str) else statuses)
        want: np.ndarray | None = UNTAGGED
        if tags:
            wanted = frozenset((tags,) if isinstance(tags, str) else tags)
            want = snap.base.want(snap.vocab, wanted)
        max_d2 = max_chord2(max_distance_m)
        if k == 0 or mask == 0 or snap.size == 0 or want is None:
            return []
        args = (float(lat), float(lng), max_d2, mask, want, snap, data)
        if predicate is None:
            ids, metres = search(*args, min(k, snap.size))
            found = hits(ids, metres)
        else:
            found = search_with_predicate(*args, k, predicate)
        if max_distance_m is not None:
            return [h for h in found if h.distance_m <= max_distance_m]
        return found

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays and its writer-side id map (not its layers:
        `Layer.nbytes()`). Mapped base arrays count in full."""
        snap = self._snap
        slots = sys.getsizeof(self._slots) + 64 * len(self._slots)
        return snap.base.nbytes() + snap.pending.nbytes() + slots

    # -- saving and layers ---------------------------------------------------------------

    @property
    def base(self) -> Base:
        """The current base (tree): its rows are the tree order of `base_arrays`, layers and
        `add_layer(base=...)`."""
        return self._snap.base

    def base_arrays(self) -> dict[str, np.ndarray]:
        """The current base's arrays, to save (see `Base.to_arrays`). Changes still in the
        pending buffer are not in them: save right after a build (or a compaction)."""
        return self._snap.base.to_arrays()

    def base_ids(self) -> np.ndarray:
        """Outlet ids in the current base's tree order (read-only view)."""
        ids = self._snap.base.ids.view()
        ids.flags.writeable = False
        return ids

    def pending_ids(self) -> np.ndarray:
        """Ids whose live row is in the pending buffer (not in the base's tree order)."""
        with self._lock:  # the writer's own map
            return np.fromiter(self._slots, np.int64, len(self._slots))

    def vocabulary_names(self) -> list[str]:
        """Tag names by tag id, for `from_base` (a copy; it only grows until a new base)."""
        return list(self._snap.vocab.names)

    def add_layer(self, status: np.ndarray, code_for: Callable[[IndexEntry], int], *,
                  base: Base | None = None) -> Layer:
        """A layer: `status` codes (int8, 0..7) per base row in tree order; `code_for(entry)`
        gives the code of every row written later (called under the writer lock, before the
        row shows: it must not call back into the index). With `base`, StaleBase if that is
        no longer the current base. Pending rows already written are asked now."""
        with self._lock:
            snap = self._snap
            if base is not None and base is not snap.base:
                raise StaleBase("the index has a new base; take its tree order again")
            data = layer_data(snap.base, snap.pending, status)
            for row in self._slots.values():  # the live pending rows
                data.p_status[row] = code_for(self._pending_entry(snap, row))
            layer = Layer(code_for, data)
            self._layers.append(layer)
        if len(snap.base.ids):  # compile (or load) the kernel for a layer's arrays
            self.nearest(0.0, 0.0, 1, layer=layer)
        return layer

    def drop_layer(self, layer: Layer) -> None:
        """Stop filling a layer (its owner no longer needs it); it ends (see `nearest`)."""
        with self._lock:
            if layer in self._layers:
                self._layers.remove(layer)
                layer.ended_at = self._snap

    # -- writing -------------------------------------------------------------------------

    def build(self, entries: Iterable[IndexEntry]) -> None:
        """Replace the whole content (bulk load); duplicate ids are an error."""
        rows = list(entries)
        self.build_arrays(
            [e.id for e in rows], [e.lat for e in rows], [e.lng for e in rows],
            status=[STATUS_CODE[e.status] for e in rows], tags=[e.tags for e in rows],
        )  # fmt: skip

    def build_arrays(
        self,
        ids: Any,
        lats: Any,
        lngs: Any,
        status: Any = None,
        tags: Iterable[Iterable[str] | str | None] | None = None,
    ) -> None:
        """Replace the whole content from columns (fast path for large loads)."""
        ids_a, lats_a, lngs_a = check_arrays(ids, lats, lngs)
        n = len(ids_a)
        codes = status_codes(status, n)
        vocab, row_start, row_tags = tag_columns(tags, n)
        base = Base.build(ids_a, lats_a, lngs_a, codes, row_start, row_tags, len(vocab))[0]
        with self._lock:
            for layer in self._layers:  # their statuses were per row of the old base
                layer.ended_at = self._snap
            self._layers = []
            self._publish_new_base(base, vocab, self._snap.version + 1)

    def upsert(self, entry: IndexEntry) -> None:
        """Insert or replace one outlet; visible to the next query, no full rebuild."""
        with self._lock:
            snap = self._snap
            code = STATUS_CODE[entry.status]
            pos, slot = snap.base.position(entry.id), self._slots.get(entry.id)
            layer_codes = [layer.code_for(entry) for layer in self._layers]  # before any write
            if same_row(snap, snap.base, pos, entry, code, self._layers, layer_codes) or \
                    same_row(snap, snap.pending, slot, entry, code, self._layers, layer_codes):
                return
            if not snap.pending.fits(snap.count, len(entry.tags)):
                snap = self._compact(snap, tag_room=len(entry.tags))
                pos, slot = snap.base.position(entry.id), None
            tag_ids = snap.vocab.add(entry.tags)  # appends; readers of this vocab still agree
            version, row, pend = snap.version + 1, snap.count, snap.pending
            pend.pts[row] = unit_vector(entry.lat, entry.lng)
            pend.status[row], pend.dead_at[row] = code, _NEVER
            for layer, layer_code in zip(self._layers, layer_codes, strict=True):
                layer.data.p_status[row] = layer_code
            pend.ids[row], pend.lats[row], pend.lngs[row] = entry.id, entry.lat, entry.lng
            first = pend.row_start[row]
            pend.row_tags[first : first + len(tag_ids)] = tag_ids
            pend.row_start[row + 1] = first + len(tag_ids)
            existed = self._kill(snap, pos, slot, version)
            self._slots[entry.id] = row
            self._snap = Snapshot(snap.base, pend, row + 1, version, snap.vocab, snap.size + (not existed))

    def remove(self, id_: int) -> bool:
        """Remove one outlet; False if it was not there."""
        with self._lock:
            snap = self._snap
            pos, slot = snap.base.position(id_), self._slots.pop(id_, None)
            version = snap.version + 1
            if not self._kill(snap, pos, slot, version):
                return False
            self._snap = Snapshot(snap.base, snap.pending, snap.count, version, snap.vocab, snap.size - 1)
            if self._dead_base > max(self._capacity, len(snap.base.ids) // 2):
                self._compact(self._snap)
            return True

    # -- internals (writer side, under the lock) -----------------------------------------

    def _kill(self, snap: Snapshot, pos: int | None, slot: int | None, version: int) -> bool:
        """Stamp the live row of an id as dead from `version` on; whether there was one."""
        if pos is not None:
            snap.base.dead_at[pos] = version
            self._dead_base += 1
            return True
        if slot is not None:
            snap.pending.dead_at[slot] = version
            return True
        return False

    def _compact(self, snap: Snapshot, *, tag_room: int = 0) -> Snapshot:
        """Rebuild the tree from every live row, tags renumbered to those still in use; same
        content and version, an empty buffer with room for `tag_room` tags in one row. Layers
        move to the new tree before it is published."""
        parts = [(snap.base, len(snap.base.ids)), (snap.pending, snap.count)]
        cols: dict[str, list[np.ndarray]] = {"ids": [], "lats": [], "lngs": [], "status": []}
        lengths, tag_ids, lives = [], [], []
        for rows, count in parts:
            live = np.flatnonzero(rows.dead_at[:count] > snap.version)
            lives.append(live)
            for name in cols:
                cols[name].append(getattr(rows, name)[live])
            row_lengths, row_tags = gather_rows(rows.row_start, rows.row_tags, live)
            lengths.append(row_lengths)
            tag_ids.append(row_tags)
        ids, lats, lngs, status = (np.concatenate(cols[name]) for name in cols)
        vocab, flat_tags = renumber(snap.vocab, np.concatenate(tag_ids))
        row_start = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(np.concatenate(lengths), out=row_start[1:])
        base, perm = Base.build(ids, lats, lngs, status, row_start, flat_tags, len(vocab))
        pending = self._new_pending(tag_room)
        for layer in self._layers:
            layer.data = carried(layer.data, *lives, perm, base, pending)
        return self._publish_new_base(base, vocab, snap.version, tag_room, pending)

    def _new_pending(self, tag_room: int = 0) -> Pending:
        return Pending(self._capacity, max(8 * self._capacity, tag_room))

    def _pending_entry(self, snap: Snapshot, row: int) -> IndexEntry:
        pend = snap.pending
        return IndexEntry(int(pend.ids[row]), float(pend.lats[row]), float(pend.lngs[row]),
                          STATUSES[pend.status[row]], snap.vocab.tag_names(pend.tag_ids(row)))

    def _publish_new_base(self, base: Base, vocab: Vocabulary, version: int, tag_room: int = 0,
                          pending: Pending | None = None, *, dead: int = 0) -> Snapshot:
        """Serve `base` (with `dead` of its rows already stamped dead) and an empty buffer."""
        self._slots, self._dead_base = {}, dead
        pending = pending or self._new_pending(tag_room)
        self._snap = Snapshot(base, pending, 0, version, vocab, len(base.ids) - dead)
        return self._snap
