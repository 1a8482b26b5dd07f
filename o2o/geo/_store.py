"""The arrays behind NearestIndex: a built tree (base), a buffer of later changes (pending), and
the immutable snapshot that ties them to a version.

Versioning, not locking, keeps readers consistent: every point row carries `dead_at`, the
version at which it stopped being visible. A writer appends new rows past the count a reader's
snapshot knows and stamps old rows with the *next* version before publishing the snapshot that
carries that version, so a reader sees either all of a change or none of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from o2o.errors import ValidationError
from o2o.geo import _kdtree

STATUSES = ("open", "temporarily_closed", "closed")
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}
LEAF_SIZE = 16
WANTS_KEPT = 256  # tag filters remembered per base


def unit_vectors(lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors for degrees; chord length between them is monotone in arc length."""
    rlat, rlng = np.radians(lats), np.radians(lngs)
    cos_lat = np.cos(rlat)
    return np.ascontiguousarray(
        np.column_stack([cos_lat * np.cos(rlng), cos_lat * np.sin(rlng), np.sin(rlat)])
    )


def unit_vector(lat: float, lng: float) -> tuple[float, float, float]:
    """One point as a unit vector (same formula as `unit_vectors`)."""
    rlat, rlng = math.radians(lat), math.radians(lng)
    return (math.cos(rlat) * math.cos(rlng), math.cos(rlat) * math.sin(rlng), math.sin(rlat))


def check_arrays(ids: Any, lats: Any, lngs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate bulk input: integer ids without duplicates, finite in-range degrees."""
    ids_a, lats_a, lngs_a = np.asarray(ids), np.asarray(lats), np.asarray(lngs)
    if not (ids_a.ndim == lats_a.ndim == lngs_a.ndim == 1 and len(ids_a) == len(lats_a) == len(lngs_a)):
        raise ValidationError("ids, lats and lngs must be 1-D and of equal length")
    if len(ids_a) and ids_a.dtype.kind not in "iu":
        raise ValidationError("ids must be integers", details=[{"field": "id"}])
    ids_a = ids_a.astype(np.int64)
    lats_a, lngs_a = lats_a.astype(np.float64), lngs_a.astype(np.float64)
    bad = ~(np.abs(lats_a) <= 90.0) | ~(np.abs(lngs_a) <= 180.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"row {row}: latitude must be in [-90, 90] and longitude in [-180, 180]",
            details=[{"row": row, "field": "lat/lng", "value": [lats_a[row], lngs_a[row]]}],
        )
    sorted_ids = np.sort(ids_a)
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        raise ValidationError(f"duplicate id {sorted_ids[dup[0]]}", details=[{"field": "id"}])
    return ids_a, lats_a, lngs_a


def status_codes(status: Any, n: int) -> np.ndarray:
    """Status names (or codes 0..2) as an int8 array; everything "open" when None."""
    if status is None:
        return np.zeros(n, np.int8)
    arr = np.asarray(status)
    if arr.shape != (n,):
        raise ValidationError("status must have one value per id")
    if arr.dtype.kind in "iu":
        codes = arr.astype(np.int64)
    else:
        names, inverse = np.unique(arr.astype(str), return_inverse=True)
        unknown = [s for s in names.tolist() if s not in STATUS_CODE]
        if unknown:
            raise ValidationError(f"unknown status {unknown[0]!r}; expected one of {STATUSES}")
        codes = np.array([STATUS_CODE[s] for s in names.tolist()], np.int64)[inverse]
    if n and (codes.min() < 0 or codes.max() >= len(STATUSES)):
        raise ValidationError(f"status codes must be 0..{len(STATUSES) - 1}")
    return codes.astype(np.int8)


class Vocabulary:
    """Tag name <-> tag id, without a ceiling. Shared by snapshots and only ever appended to
    (by the one writer), so a reader may meet ids newer than its snapshot's base: those have
    no positions there. A compaction starts a fresh, renumbered one."""

    __slots__ = ("ids", "names")

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = list(names)
        self.ids: dict[str, int] = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def add(self, tags: frozenset[str]) -> np.ndarray:
        """Sorted ids of `tags`, giving new tags the next ids."""
        for tag in sorted(tags - self.ids.keys()):
            self.ids[tag] = len(self.names)
            self.names.append(tag)
        return np.array(sorted(self.ids[t] for t in tags), np.int64)

    def want(self, tags: frozenset[str], tag_start: np.ndarray) -> np.ndarray | None:
        """The kernel's tag filter: (tag, start, end) of each tag's slice of the base's
        position lists, rarest first; None if a tag is unknown (then nothing can match)."""
        rows = []
        for tag in tags:
            tag_id = self.ids.get(tag)
            if tag_id is None:
                return None
            start, end = (int(tag_start[tag_id]), int(tag_start[tag_id + 1])) \
                if tag_id + 1 < len(tag_start) else (0, 0)
            rows.append((tag_id, start, end))
        rows.sort(key=lambda r: r[2] - r[1])
        return np.array(rows, np.int64).reshape(-1, 3)

    def tag_names(self, tag_ids: np.ndarray) -> frozenset[str]:
        return frozenset(self.names[i] for i in tag_ids.tolist())


def tag_columns(tags: Iterable[Iterable[str] | str | None] | None,
                n: int) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
    """A vocabulary and per-row tag ids as (row_start, row_tags) from per-row collections."""
    vocab = Vocabulary()
    if tags is None:
        return vocab, np.zeros(n + 1, np.int64), np.zeros(0, np.int64)
    rows = list(tags)
    if len(rows) != n:
        raise ValidationError("tags must have one collection per id")
    known: dict[frozenset[str], np.ndarray] = {}  # a chain has few distinct tag sets
    per_row = []
    for row in rows:
        names = frozenset([row] if isinstance(row, str) else row or ())
        ids = known.get(names)
        if ids is None:
            if not all(isinstance(t, str) for t in names):
                raise ValidationError("tags must be strings", details=[{"field": "tags"}])
            ids = known[names] = vocab.add(names)
        per_row.append(ids)
    lengths = np.fromiter((len(ids) for ids in per_row), np.int64, n)
    flat = np.concatenate(per_row) if per_row else np.zeros(0, np.int64)
    return vocab, _starts(lengths), flat.astype(np.int64)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """CSR offsets from per-row lengths."""
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def gather_rows(start: np.ndarray, flat: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, flat values) of the listed rows of a CSR (start, flat), in that order."""
    lengths = start[1:][rows] - start[:-1][rows]
    if not lengths.sum():
        return lengths, np.zeros(0, np.int64)
    offsets = _starts(lengths)
    idx = np.repeat(start[:-1][rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
    return lengths, flat[idx]


def renumber(vocab: Vocabulary, tag_ids: np.ndarray) -> tuple[Vocabulary, np.ndarray]:
    """Keep only the tags in use, numbered densely (what a compaction does with churn)."""
    used, inverse = np.unique(tag_ids, return_inverse=True)
    return Vocabulary(vocab.names[i] for i in used.tolist()), inverse.astype(np.int64)


def _small(values: np.ndarray, top: int) -> np.ndarray:
    """Integers as int32 when every value (bounded by `top`) fits, else int64: half the bytes
    for positions, tag ids and offsets at any realistic size."""
    return np.ascontiguousarray(values, np.int32 if top < 2**31 else np.int64)


class Base:
    """A built k-d tree and its columns, all in tree order; only `dead_at` changes later.

    Tags are kept twice, both O(tag assignments): per row (`row_start`, `row_tags`) to read an
    entry back, and per tag (`tag_start`, `tag_pos`: sorted tree positions) for the kernel.
    A base is its arrays (`ARRAYS`): `to_arrays` hands them out to be saved, `from_arrays`
    adopts saved ones without copying (e.g. read-only views of a mapped file), except
    `dead_at`, the one array the index writes.
    """

    ARRAYS = ("bbox", "dead_at", "depth", "ids", "lats", "lngs", "masks", "pos_by_id", "pts",
              "row_start", "row_tags", "status", "tag_pos", "tag_start")
    __slots__ = (*ARRAYS, "wants")

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        """Adopt built arrays as they are; see `build` and `from_arrays`."""
        self.depth = int(np.asarray(arrays["depth"]).reshape(-1)[0])
        (self.bbox, self.dead_at, self.ids, self.lats, self.lngs, self.masks, self.pos_by_id,
         self.pts, self.row_start, self.row_tags, self.status, self.tag_pos, self.tag_start) = (arrays[name] for name in self.ARRAYS if name != "depth")
        self.wants: dict[frozenset[str], np.ndarray] = {}

    @classmethod
    def build(cls, ids: np.ndarray, lats: np.ndarray, lngs: np.ndarray, status: np.ndarray,
              row_start: np.ndarray, row_tags: np.ndarray, n_tags: int) -> tuple[Base, np.ndarray]:  # fmt: skip
        """A new tree over the rows, and `perm`: row i of the base is input row perm[i]."""
        n = len(ids)
        xyz = unit_vectors(lats, lngs)
        depth = _kdtree.tree_depth(n, LEAF_SIZE)
        perm, bbox = _kdtree.build_tree(xyz, depth)
        status = np.ascontiguousarray(status[perm], np.int8)
        ids = np.ascontiguousarray(ids[perm], np.int64)
        lengths, tags = gather_rows(row_start, row_tags, perm)
        n_tag_rows = len(tags)
        positions = np.repeat(np.arange(n, dtype=np.int64), lengths)
        order = np.lexsort((positions, tags))
        by_id = np.argsort(ids, kind="stable")
        arrays = {
            "bbox": bbox, "dead_at": np.full(n, _kdtree.NEVER, np.int64),
            "depth": np.array(depth, np.int64), "ids": ids,
            "lats": np.ascontiguousarray(lats[perm]), "lngs": np.ascontiguousarray(lngs[perm]),
            "masks": _kdtree.node_masks(status, depth), "pos_by_id": _small(by_id, n),
            "pts": np.ascontiguousarray(xyz[perm]),
            "row_start": _small(_starts(lengths), n_tag_rows), "row_tags": _small(tags, n_tags),
            "status": status, "tag_pos": _small(positions[order], n),
            "tag_start": _small(_starts(np.bincount(tags, minlength=n_tags)), n_tag_rows),
        }  # fmt: skip
        return cls(arrays), perm

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array that defines this base (depth as a 0-d array), not copied: save them
        (np.save) and `from_arrays` gives the same base back. `dead_at` is live: the writer
        may stamp it meanwhile (a row it stamps is reported dead on adoption)."""
        return {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Base:
        """Adopt saved arrays without copying them (read-only views welcome), except
        `dead_at`, which is copied (the index stamps it). Shapes and dtypes are checked."""
        missing = [name for name in cls.ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"base arrays missing: {', '.join(missing)}")
        got = {name: np.asarray(arrays[name]) for name in cls.ARRAYS}  # a memmap's plain view
        got["dead_at"] = np.array(got["dead_at"], np.int64)  # the one writable array
        n, depth = len(got["ids"]), int(got["depth"].reshape(-1)[0])
        n_nodes = (1 << (depth + 1)) - 1
        shapes = {"bbox": (n_nodes, 6), "masks": (n_nodes,), "pts": (n, 3),
                  "row_start": (n + 1,)} | {name: (n,) for name in (
                      "dead_at", "lats", "lngs", "pos_by_id", "status")}
        for name, shape in shapes.items():
            if got[name].shape != shape:
                raise ValueError(f"base array {name} has shape {got[name].shape}, not {shape}")
        n_assigned = len(got["row_tags"])
        if not int(got["row_start"][-1]) == int(got["tag_start"][-1]) == len(got["tag_pos"]) \
                == n_assigned:
            raise ValueError("base tag arrays do not agree in length")
        if depth != _kdtree.tree_depth(n, LEAF_SIZE) or got["status"].dtype != np.int8 \
                or got["ids"].dtype != np.int64 or got["pts"].dtype != np.float64:
            raise ValueError("base arrays do not match this version's layout")
        for name, arr in got.items():
            if arr.ndim and not arr.flags.c_contiguous:
                raise ValueError(f"base array {name} is not C-contiguous")
        return cls(got)

    def want(self, vocab: Vocabulary, tags: frozenset[str]) -> np.ndarray | None:
        """The kernel's filter for `tags` (see Vocabulary.want), remembered for this base: a
        tag's ids and slices never change while it lives. Bounded, as callers choose tags."""
        found = self.wants.get(tags)
        if found is None:
            found = vocab.want(tags, self.tag_start)
            if found is not None:
                if len(self.wants) >= WANTS_KEPT:
                    self.wants = {}
                self.wants[tags] = found
        return found

    def position(self, id_: int, *, alive_at: int | None = None) -> int | None:
        """Tree position of the row with this id if it is alive (now, or at a version)."""
        pos = int(self.positions(np.array([id_], np.int64))[0])
        if pos >= 0:
            dead_at = self.dead_at[pos]
            alive = dead_at == _kdtree.NEVER if alive_at is None else dead_at > alive_at
            if alive:
                return pos
        return None

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Tree position of each id (int64), -1 where the base has no row for it (alive or
        not)."""
        return _kdtree.find_positions(self.ids, self.pos_by_id, ids)

    def tag_ids(self, row: int) -> np.ndarray:
        return self.row_tags[self.row_start[row] : self.row_start[row + 1]]

    def nbytes(self) -> int:
        """Bytes held by the arrays (mapped ones included)."""
        return sum(getattr(self, name).nbytes for name in self.ARRAYS if name != "depth")


class Pending:
    """Append-only rows for changes since the base was built; capacity fixed at creation
    (rows, and tag ids over all rows: when either is full the index compacts)."""

    __slots__ = ("dead_at", "ids", "lats", "lngs", "pts", "row_start", "row_tags", "status")

    def __init__(self, capacity: int, tag_capacity: int | None = None) -> None:
        self.pts = np.zeros((capacity, 3))
        self.status = np.zeros(capacity, np.int8)
        self.dead_at = np.zeros(capacity, np.int64)
        self.ids = np.zeros(capacity, np.int64)
        self.lats = np.zeros(capacity)
        self.lngs = np.zeros(capacity)
        self.row_start = np.zeros(capacity + 1, np.int64)
        self.row_tags = np.zeros(tag_capacity if tag_capacity is not None else 8 * capacity,
                                 np.int64)

    @property
    def capacity(self) -> int:
        """How many rows fit before the index must compact."""
        return len(self.ids)

    def fits(self, row: int, n_tags: int) -> bool:
        """Whether row `row` with `n_tags` tags can still be appended."""
        return row < self.capacity and self.row_start[row] + n_tags <= len(self.row_tags)

    def tag_ids(self, row: int) -> np.ndarray:
        return self.row_tags[self.row_start[row] : self.row_start[row + 1]]

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(getattr(self, name).nbytes for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a reader sees: the base, the first `count` pending rows, alive at `version`."""

    base: Base
    pending: Pending
    count: int
    version: int
    vocab: Vocabulary
    size: int
