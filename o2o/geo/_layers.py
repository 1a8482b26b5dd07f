"""Status layers: another status per outlet over the same tree, e.g. "open in this minute".

A layer is an int8 status per base row (tree order) with its own node masks (the OR of
`1 << status` per node, as the base keeps for its own status), and an int8 status per pending
row. The index fills a pending row's layer status when it writes the row, under its writer
lock and before it publishes the snapshot that shows the row, by asking the layer's
`code_for(entry)`; a search passes the layer's arrays instead of the base's status and masks
(positions, tags and `dead_at` stay the base's: a removal hides a row in every layer).

A layer's arrays belong to one (base, pending buffer) pair (`LayerData`). A compaction carries
each layer to the new base (its statuses follow their rows). A new base from a bulk build ends
every layer, and so does dropping it: `Layer.live` turns False, the index stops filling it,
and a search with it answers as of the snapshot it ended at (a request in flight across a
reload or a minute's end still gets a consistent answer; the owner builds a new layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from o2o.geo import _kdtree
from o2o.geo._store import Base, Pending, Snapshot

if TYPE_CHECKING:
    from o2o.geo._entry import IndexEntry

__all__ = ["Layer", "LayerData", "StaleBase"]


class StaleBase(LookupError):
    """Columns given in tree order belong to a base the index no longer has."""


@dataclass(frozen=True, slots=True)
class LayerData:
    """A layer's arrays for one (base, pending buffer) pair."""

    base: Base
    pending: Pending
    status: np.ndarray  # int8, one per base row, tree order
    masks: np.ndarray  # int8 node masks of `status`
    p_status: np.ndarray  # int8, one per pending slot; slot s is written before it is shown

    def nbytes(self) -> int:
        return self.status.nbytes + self.masks.nbytes + self.p_status.nbytes


class Layer:
    """A handle on one layer of one index; its data moves with compactions."""

    __slots__ = ("code_for", "data", "ended_at")

    def __init__(self, code_for: Callable[[IndexEntry], int], data: LayerData) -> None:
        self.code_for = code_for
        self.data = data
        #: Set (before anything else changes) when the layer ends: searches use it from then.
        self.ended_at: Snapshot | None = None

    @property
    def live(self) -> bool:
        """False once the index replaced its base by a bulk build, or dropped the layer."""
        return self.ended_at is None

    def nbytes(self) -> int:
        return self.data.nbytes()


def layer_data(base: Base, pending: Pending, status: np.ndarray) -> LayerData:
    """Arrays for a layer with `status` over the base rows (tree order); pending rows unset."""
    status = np.ascontiguousarray(status, np.int8)
    if status.shape != base.status.shape:
        raise ValueError(f"a layer needs one status per base row ({len(base.status)}), "
                         f"not {status.shape}")
    if len(status) and (status.min() < 0 or status.max() > 7):
        raise ValueError("layer status codes must be 0..7")
    masks = _kdtree.node_masks(status, base.depth)
    return LayerData(base, pending, status, masks, np.zeros(pending.capacity, np.int8))


def carried(data: LayerData, live_base: np.ndarray, live_pending: np.ndarray,
            perm: np.ndarray, base: Base, pending: Pending) -> LayerData:
    """The layer over a compacted base built from the live base rows then the live pending
    rows (in that order, permuted by `perm`)."""
    joined = np.concatenate([data.status[live_base], data.p_status[live_pending]])
    return layer_data(base, pending, joined[perm])
