"""The query side of NearestIndex: filters as the kernel takes them, and one search."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import NamedTuple

import numpy as np

from o2o.errors import ValidationError
from o2o.geo import _kdtree
from o2o.geo._layers import LayerData
from o2o.geo._store import STATUS_CODE, STATUSES, Snapshot
from o2o.geo.distance import EARTH_RADIUS_M

UNTAGGED = np.zeros((0, 3), np.int64)  # the kernel's tag filter when no tag is asked for
_BUFFERS = threading.local()  # per-thread output arrays for small k: no allocation per query
_new_tuple = tuple.__new__  # builds Hit rows without a Python-level __new__ call each


def hits(ids: list[int], metres: list[float]) -> list[Hit]:
    """Hit rows from parallel lists, at C speed (a NamedTuple's own __new__ is slow)."""
    return list(map(_new_tuple, repeat(Hit), zip(ids, metres, strict=True)))


class Hit(NamedTuple):
    """One answer: the outlet id and its great-circle distance in metres."""

    id: int
    distance_m: float


def status_mask(statuses: Iterable[str]) -> int:
    """Bit mask of status codes; unknown names are an error, not a silent miss."""
    mask = 0
    for name in statuses:
        code = STATUS_CODE.get(name)
        if code is None:
            raise ValidationError(f"unknown status {name!r}; expected one of {STATUSES}")
        mask |= 1 << code
    return mask


def max_chord2(max_distance_m: float | None) -> float:
    """Squared chord of a radius in metres, a hair generous; the exact cut comes after."""
    if max_distance_m is None:
        return 4.0
    if not max_distance_m >= 0.0:
        raise ValidationError("max_distance_m must be a non-negative number")
    half_angle = min(max_distance_m / EARTH_RADIUS_M, math.pi) / 2.0
    return (2.0 * math.sin(half_angle)) ** 2 * (1.0 + 1e-9) + 1e-24

def search(lat: float, lng: float, max_d2: float, mask: int, want: np.ndarray, snap: Snapshot,
            data: LayerData | None, k: int) -> tuple[list[int], list[float]]:  # fmt: skip
    """One kernel call: ids and metres of up to k visible points (statuses of the layer)."""
    base, pend = snap.base, snap.pending
    if data is None:
        status, masks, p_status = base.status, base.masks, pend.status
    else:
        status, masks, p_status = data.status, data.masks, data.p_status
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
        lat, lng, max_d2, mask, want, snap.version, base.depth, base.pts, base.bbox, masks,
        status, base.dead_at, base.ids, base.tag_pos, pend.pts, p_status, pend.dead_at, pend.ids,
        snap.count,
        pend.row_start, pend.row_tags, out_ids, out_m,
    )  # fmt: skip
    if count == k:
        return out_ids.tolist(), out_m.tolist()
    return out_ids[:count].tolist(), out_m[:count].tolist()


def search_with_predicate(lat: float, lng: float, max_d2: float, mask: int, want: np.ndarray,
                           snap: Snapshot, data: LayerData | None, k: int,
                           predicate: Callable[[int], bool]) -> list[Hit]:  # fmt: skip
    """Widen the candidate list until k pass the predicate or no candidates are left."""
    verdict: dict[int, bool] = {}
    wanted = min(max(4 * k, 16), snap.size)
    while True:
        ids, metres = search(lat, lng, max_d2, mask, want, snap, data, wanted)
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
