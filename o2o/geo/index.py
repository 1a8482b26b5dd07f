"""Exact k-nearest outlets by great-circle distance, live under admin changes.

Points are unit vectors in a compiled k-d tree (`_kdtree`), where chord distance ranks exactly
like great-circle distance, so answers match a brute-force haversine ranking anywhere on the
globe, poles and antimeridian included. Filters (status, tags) are applied inside the search,
which therefore keeps going until it has k matches or runs out of points.

Changes go to a small pending buffer that every query also scans; when it is full the tree is
rebuilt (amortised compaction). One writer and any number of readers may run at once: readers
take the current immutable snapshot and never wait for, nor see half of, a change.
Coordinates are WGS-84 degrees as (lat, lng); convert GCJ-02/BD-09 input with `o2o.geo.datum`.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from o2o.errors import ValidationError
from o2o.geo import _kdtree
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
from o2o.geo.distance import EARTH_RADIUS_M

__all__ = ["OPEN_ONLY", "STATUSES", "Hit", "IndexEntry", "NearestIndex"]

OPEN_ONLY = frozenset({"open"})
_DEAD, _NEVER = _kdtree.ATTR_DEAD, _kdtree.NEVER
_EMPTY = np.zeros(0, np.int64)
_UNTAGGED = np.zeros((0, 3), np.int64)  # the kernel's tag filter when no tag is asked for
_BUFFERS = threading.local()  # per-thread output arrays for small k: no allocation per query
_new_tuple = tuple.__new__  # builds Hit rows without a Python-level __new__ call each


def _hits(ids: list[int], metres: list[float]) -> list[Hit]:
    """Hit rows from parallel lists, at C speed (a NamedTuple's own __new__ is slow)."""
    return list(map(_new_tuple, repeat(Hit), zip(ids, metres, strict=True)))


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


class Hit(NamedTuple):
    """One answer: the outlet id and its great-circle distance in metres."""

    id: int
    distance_m: float


def _status_mask(statuses: Iterable[str]) -> int:
    """Bit mask of status codes; unknown names are an error, not a silent miss."""
    mask = 0
    for name in statuses:
        code = STATUS_CODE.get(name)
        if code is None:
            raise ValidationError(f"unknown status {name!r}; expected one of {STATUSES}")
        mask |= 1 << code
    return mask


def _max_chord2(max_distance_m: float | None) -> float:
    """Squared chord of a radius in metres, a hair generous; the exact cut comes after."""
    if max_distance_m is None:
        return 4.0
    if not max_distance_m >= 0.0:
        raise ValidationError("max_distance_m must be a non-negative number")
    half_angle = min(max_distance_m / EARTH_RADIUS_M, math.pi) / 2.0
    return (2.0 * math.sin(half_angle)) ** 2 * (1.0 + 1e-9) + 1e-24


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
        empty = np.zeros(0)
        self._snap = Snapshot(
            Base(_EMPTY, empty, empty, _EMPTY, np.zeros(1, np.int64), _EMPTY, 0),
            Pending(pending_capacity), 0, 0, Vocabulary(), 0,
        )  # fmt: skip
        # Compile (or load from numba's cache) the query kernel now, not on a customer's first
        # query: a cold compile takes seconds and WeChat gives a reply 5 s.
        _search(0.0, 0.0, 4.0, 1, _UNTAGGED, self._snap, 1)

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
        row = next((r for r in reversed(found) if rows.attrs[r, _DEAD] > snap.version), None)
        if row is None:
            rows, row = snap.base, snap.base.position(id_, alive_at=snap.version)
            if row is None:
                return None
        return IndexEntry(
            id_, float(rows.lats[row]), float(rows.lngs[row]),
            STATUSES[rows.attrs[row, _kdtree.ATTR_STATUS]], snap.vocab.tag_names(rows.tag_ids(row)),
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
    ) -> list[Hit]:
        """The k nearest outlets passing every filter (all `tags` must match), nearest first.

        A single status or tag may be given as a plain string.
        """
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
            mask = _status_mask((statuses,) if isinstance(statuses, str) else statuses)
        want: np.ndarray | None = _UNTAGGED
        if tags:
            wanted = frozenset((tags,) if isinstance(tags, str) else tags)
            want = snap.base.want(snap.vocab, wanted)
        max_d2 = _max_chord2(max_distance_m)
        if k == 0 or mask == 0 or snap.size == 0 or want is None:
            return []
        args = (float(lat), float(lng), max_d2, mask, want, snap)
        if predicate is None:
            ids, metres = _search(*args, min(k, snap.size))
            hits = _hits(ids, metres)
        else:
            hits = _search_with_predicate(*args, k, predicate)
        if max_distance_m is not None:
            return [h for h in hits if h.distance_m <= max_distance_m]
        return hits

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays and its writer-side id map."""
        snap = self._snap
        slots = sys.getsizeof(self._slots) + 64 * len(self._slots)
        return snap.base.nbytes() + snap.pending.nbytes() + slots

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
        base = Base(ids_a, lats_a, lngs_a, codes, row_start, row_tags, len(vocab))
        with self._lock:
            self._publish_new_base(base, vocab, self._snap.version + 1)

    def upsert(self, entry: IndexEntry) -> None:
        """Insert or replace one outlet; visible to the next query, no full rebuild."""
        with self._lock:
            snap = self._snap
            code = STATUS_CODE[entry.status]
            pos, slot = snap.base.position(entry.id), self._slots.get(entry.id)
            if _same(snap, snap.base, pos, entry, code) or _same(snap, snap.pending, slot, entry, code):
                return
            if not snap.pending.fits(snap.count, len(entry.tags)):
                snap = self._compact(snap, tag_room=len(entry.tags))
                pos, slot = snap.base.position(entry.id), None
            tag_ids = snap.vocab.add(entry.tags)  # appends; readers of this vocab still agree
            version, row, pend = snap.version + 1, snap.count, snap.pending
            pend.pts[row] = unit_vector(entry.lat, entry.lng)
            pend.attrs[row] = (code, _NEVER)
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
            snap.base.attrs[pos, _DEAD] = version
            self._dead_base += 1
            return True
        if slot is not None:
            snap.pending.attrs[slot, _DEAD] = version
            return True
        return False

    def _compact(self, snap: Snapshot, *, tag_room: int = 0) -> Snapshot:
        """Rebuild the tree from every live row, tags renumbered to those still in use; same
        content and version, an empty buffer with room for `tag_room` tags in one row."""
        parts = [(snap.base, len(snap.base.ids)), (snap.pending, snap.count)]
        cols: dict[str, list[np.ndarray]] = {"ids": [], "lats": [], "lngs": [], "attrs": []}
        lengths, tag_ids = [], []
        for rows, count in parts:
            live = np.flatnonzero(rows.attrs[:count, _DEAD] > snap.version)
            for name in cols:
                cols[name].append(getattr(rows, name)[live])
            row_lengths, row_tags = gather_rows(rows.row_start, rows.row_tags, live)
            lengths.append(row_lengths)
            tag_ids.append(row_tags)
        ids, lats, lngs, attrs = (np.concatenate(cols[name]) for name in cols)
        vocab, flat_tags = renumber(snap.vocab, np.concatenate(tag_ids))
        row_start = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(np.concatenate(lengths), out=row_start[1:])
        base = Base(ids, lats, lngs, attrs[:, _kdtree.ATTR_STATUS].copy(), row_start,
                    flat_tags, len(vocab))
        return self._publish_new_base(base, vocab, snap.version, tag_room)

    def _publish_new_base(self, base: Base, vocab: Vocabulary, version: int,
                          tag_room: int = 0) -> Snapshot:
        self._slots, self._dead_base = {}, 0
        pending = Pending(self._capacity, max(8 * self._capacity, tag_room))
        self._snap = Snapshot(base, pending, 0, version, vocab, len(base.ids))
        return self._snap


def _search(lat: float, lng: float, max_d2: float, mask: int, want: np.ndarray, snap: Snapshot,
            k: int) -> tuple[list[int], list[float]]:  # fmt: skip
    """One kernel call: ids and metres of up to k visible points."""
    base, pend = snap.base, snap.pending
    try:
        buffers = _BUFFERS.by_k
    except AttributeError:
        buffers = _BUFFERS.by_k = {}
    pair = buffers.get(k)
    if pair is None:
        pair = (np.empty(k, np.int64), np.empty(k))
        if k <= 64:
            buffers[k] = pair
    out_ids, out_m = pair
    count = _kdtree.knn(
        lat, lng, max_d2, mask, want, snap.version, base.depth, base.pts, base.bbox, base.masks,
        base.attrs, base.ids, base.tag_pos, pend.pts, pend.attrs, pend.ids, snap.count,
        pend.row_start, pend.row_tags, out_ids, out_m,
    )  # fmt: skip
    if count == k:
        return out_ids.tolist(), out_m.tolist()
    return out_ids[:count].tolist(), out_m[:count].tolist()


def _search_with_predicate(lat: float, lng: float, max_d2: float, mask: int, want: np.ndarray,
                           snap: Snapshot, k: int, predicate: Callable[[int], bool]) -> list[Hit]:  # fmt: skip
    """Widen the candidate list until k pass the predicate or no candidates are left."""
    verdict: dict[int, bool] = {}
    wanted = min(max(4 * k, 16), snap.size)
    while True:
        ids, metres = _search(lat, lng, max_d2, mask, want, snap, wanted)
        hits = []
        for id_, m in zip(ids, metres, strict=True):
            ok = verdict.get(id_)
            if ok is None:
                ok = verdict[id_] = bool(predicate(id_))
            if ok:
                hits.append(Hit(id_, m))
                if len(hits) == k:
                    return hits
        if len(ids) < wanted or wanted >= snap.size:
            return hits
        wanted = min(wanted * 4, snap.size)


def _same(snap: Snapshot, rows: Base | Pending, row: int | None, entry: IndexEntry,
          code: int) -> bool:
    """Whether the live row already holds exactly this entry (then an upsert is a no-op)."""
    if row is None:
        return False
    return (float(rows.lats[row]), float(rows.lngs[row]), int(rows.attrs[row, 0])) == (
        entry.lat, entry.lng, code,
    ) and snap.vocab.tag_names(rows.tag_ids(row)) == entry.tags  # fmt: skip
