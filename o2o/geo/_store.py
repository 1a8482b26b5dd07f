"""The arrays behind NearestIndex: a built tree (base), a buffer of later changes (pending), and
the immutable snapshot that ties them to a version.

Versioning, not locking, keeps readers consistent: every point row carries `dead_at`, the
version at which it stopped being visible. A writer appends new rows past the count a reader's
snapshot knows and stamps old rows with the *next* version before publishing the snapshot that
carries that version, so a reader sees either all of a change or none of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from o2o.errors import ValidationError
from o2o.geo import _kdtree

STATUSES = ("open", "temporarily_closed", "closed")
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}
MAX_TAGS = 64
LEAF_SIZE = 16


def signed64(bits: int) -> int:
    """A 64-bit mask as the int64 value numpy and numba store (bit 63 makes it negative)."""
    return bits - (1 << 64) if bits >= 1 << 63 else bits


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
    """Status names (or codes 0..2) as an int64 array; everything "open" when None."""
    if status is None:
        return np.zeros(n, np.int64)
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
    return codes


class Vocabulary:
    """Tag name -> bit. Append-only while shared; a copy grows when a writer meets a new tag."""

    __slots__ = ("bits",)

    def __init__(self, bits: dict[str, int] | None = None) -> None:
        self.bits: dict[str, int] = dict(bits or {})

    def with_tags(self, tags: frozenset[str]) -> Vocabulary:
        """This vocabulary, or a grown copy if some of `tags` are new."""
        new = [t for t in sorted(tags) if t not in self.bits]
        if not new:
            return self
        if len(self.bits) + len(new) > MAX_TAGS:
            raise ValidationError(f"at most {MAX_TAGS} distinct tags are supported by the index")
        grown = Vocabulary(self.bits)
        for tag in new:
            grown.bits[tag] = len(grown.bits)
        return grown

    def mask(self, tags: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> int | None:
        """Signed bit mask for tags, or None if one is unknown (then nothing can match)."""
        bits = 0
        for tag in tags:
            bit = self.bits.get(tag)
            if bit is None:
                return None
            bits |= 1 << bit
        return signed64(bits)

    def names(self, mask: int) -> frozenset[str]:
        """The tag names of a stored mask."""
        mask &= (1 << 64) - 1
        return frozenset(tag for tag, bit in self.bits.items() if mask >> bit & 1)


def tag_columns(tags: Iterable[Iterable[str] | str | None] | None, n: int) -> tuple[Vocabulary, np.ndarray]:  # fmt: skip
    """A vocabulary and per-row tag masks from per-row tag collections (a str is one tag)."""
    bits = np.zeros(n, np.int64)
    vocab = Vocabulary()
    if tags is None:
        return vocab, bits
    rows = list(tags)
    if len(rows) != n:
        raise ValidationError("tags must have one collection per id")
    for i, row in enumerate(rows):
        if row:
            names = frozenset([row]) if isinstance(row, str) else frozenset(row)
            vocab = vocab.with_tags(names)
            bits[i] = vocab.mask(names) or 0
    return vocab, bits


def renumber_tags(vocab: Vocabulary, bits: np.ndarray) -> tuple[Vocabulary, np.ndarray]:
    """Drop tags no live row uses and pack the rest into low bits (frees room for new tags)."""
    used = int(np.bitwise_or.reduce(bits)) if len(bits) else 0
    fresh, out = Vocabulary(), np.zeros_like(bits)
    for tag, bit in sorted(vocab.bits.items(), key=lambda item: item[1]):
        if used >> bit & 1:
            new_bit = fresh.bits[tag] = len(fresh.bits)
            on = (bits >> np.int64(bit)) & 1
            out |= on << np.int64(new_bit) if new_bit < 63 else on * np.int64(signed64(1 << 63))
    return fresh, out


class Base:
    """A built k-d tree and its columns, all in tree order; only `attrs[:, DEAD]` changes later."""

    __slots__ = ("attrs", "bbox", "depth", "ids", "lats", "lngs", "masks", "pos_by_id", "pts",
                 "sorted_ids")  # fmt: skip

    def __init__(self, ids: np.ndarray, lats: np.ndarray, lngs: np.ndarray,
                 status: np.ndarray, tags: np.ndarray) -> None:  # fmt: skip
        n = len(ids)
        attrs = np.empty((n, 3), np.int64)
        attrs[:, _kdtree.ATTR_STATUS] = status
        attrs[:, _kdtree.ATTR_TAGS] = tags
        attrs[:, _kdtree.ATTR_DEAD] = _kdtree.NEVER
        xyz = unit_vectors(lats, lngs)
        self.depth = _kdtree.tree_depth(n, LEAF_SIZE)
        perm, self.bbox, self.masks = _kdtree.build_tree(xyz, attrs, self.depth)
        self.pts = np.ascontiguousarray(xyz[perm])
        self.attrs = np.ascontiguousarray(attrs[perm])
        self.ids = np.ascontiguousarray(ids[perm])
        self.lats, self.lngs = lats[perm], lngs[perm]
        order = np.argsort(self.ids, kind="stable")
        self.sorted_ids = self.ids[order]
        self.pos_by_id = order.astype(np.int32 if n < 2**31 else np.int64)

    def position(self, id_: int, *, alive_at: int | None = None) -> int | None:
        """Tree position of the row with this id if it is alive (now, or at a version)."""
        i = int(np.searchsorted(self.sorted_ids, id_))
        if i < len(self.sorted_ids) and self.sorted_ids[i] == id_:
            pos = int(self.pos_by_id[i])
            dead_at = self.attrs[pos, _kdtree.ATTR_DEAD]
            alive = dead_at == _kdtree.NEVER if alive_at is None else dead_at > alive_at
            if alive:
                return pos
        return None

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(getattr(self, name).nbytes for name in self.__slots__ if name != "depth")


class Pending:
    """Append-only rows for changes since the base was built; capacity fixed at creation."""

    __slots__ = ("attrs", "ids", "lats", "lngs", "pts")

    def __init__(self, capacity: int) -> None:
        self.pts = np.zeros((capacity, 3))
        self.attrs = np.zeros((capacity, 3), np.int64)
        self.ids = np.zeros(capacity, np.int64)
        self.lats = np.zeros(capacity)
        self.lngs = np.zeros(capacity)

    @property
    def capacity(self) -> int:
        """How many rows fit before the index must compact."""
        return len(self.ids)

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
