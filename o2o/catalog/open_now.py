"""Which outlets are open now, as a status layer over the main nearest index, one per minute.

"Open now" near a customer at night is a needle in a haystack: filtering the nearest outlets
one by one with an opening-hours check made a request cost time in proportion to the chain
(0.15 s at 200k outlets, issue 19). Opening hours are whole minutes of wall-clock time, and
zone offsets are whole minutes, so the open set cannot change inside a UTC minute. So per
minute a worker gives the main index a status layer (`o2o.geo` layers: one int8 per outlet
plus node masks, not a second index) that says "open" exactly for the outlets open in it,
evaluating the hours once per distinct timetable; an "open now" query is an ordinary exact
nearest search over that layer: no opening-hours check per outlet per request.

Changed outlets: `patch` hands over their views before the index is written; when the index
writes an outlet's row it asks each live layer for the outlet's status in that minute
(`code_for`), so a change shows in the minute's answers with the same snapshot that shows it
in the main index. Compactions carry layers; a new base (bulk build) ends them and `get` then
answers None, so the owner builds the minute again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from o2o.catalog.hours import OpeningHours
from o2o.catalog.views import OutletView
from o2o.geo.index import STATUS_CODE, Base, Hit, IndexEntry, Layer, NearestIndex

#: Minutes whose layer a worker keeps: the current one and the next, built ahead of time.
MINUTES_KEPT = 2
#: A layer's codes: open in the minute, or not (any other status, closed hours, unknown hours).
OPEN, NOT_OPEN = STATUS_CODE["open"], STATUS_CODE["closed"]
_MISSING = object()


def minute_of(at: datetime) -> int:
    """The UTC minute number of an aware instant."""
    return int(at.timestamp() // 60)


class OpenMinute:
    """The outlets open in one minute, searched like an index of their own."""

    __slots__ = ("index", "layer", "minute")

    def __init__(self, index: NearestIndex, layer: Layer, minute: int) -> None:
        self.index, self.layer, self.minute = index, layer, minute

    @property
    def live(self) -> bool:
        return self.layer.live

    def nearest(self, lat: float, lng: float, k: int = 5, *, max_distance_m: float | None = None,
                tags: Iterable[str] | None = None,
                predicate: Callable[[int], bool] | None = None) -> list[Hit]:  # fmt: skip
        """The k nearest outlets open in this minute (see NearestIndex.nearest)."""
        return self.index.nearest(lat, lng, k, max_distance_m=max_distance_m, tags=tags,
                                  predicate=predicate, layer=self.layer)

    def nbytes(self) -> int:
        return self.layer.nbytes()


class OpenNow:
    """Open-now layers of the main index for the few minutes around now.

    `index` is the main index, or a function giving the current one (the catalog replaces
    its index on a full load). `view_of(id)` finds an outlet's view when the index writes a
    row that `patch` did not announce. The owner (the catalog) serialises build, patch and
    clear; readers only call `get` and search what it returns.
    """

    def __init__(self, index: NearestIndex | Callable[[], NearestIndex],
                 view_of: Callable[[int], OutletView | None] | None = None) -> None:
        self._index = index if callable(index) and not isinstance(index, NearestIndex) \
            else (lambda: index)
        self._view_of = view_of
        self._by_minute: dict[int, OpenMinute] = {}
        self._changed: Mapping[int, OutletView | None] = {}  # the last patch's views

    def get(self, minute: int) -> OpenMinute | None:
        """The minute's layer if it is current (same index, its base still in use)."""
        found = self._by_minute.get(minute)
        if found is None or not found.live or found.index is not self._index():
            return None
        return found

    def build(self, minute: int, base_status: np.ndarray | Iterable[OutletView],
              hours_ids: np.ndarray | None = None,
              timetables: Sequence[OpeningHours | None] | None = None, *,
              base: Base | None = None) -> OpenMinute:  # fmt: skip
        """The layer of the outlets open throughout `minute`, kept with the newest others.

        Columns: `base_status` (int8 status codes) and `hours_ids` (int32 index into
        `timetables`, -1 for unknown hours), both in the tree order of the index's base
        (`base`, if given, is checked to still be the index's: StaleBase otherwise). Each
        timetable is asked once. Or, without columns, `base_status` is an iterable of the
        outlets' views (one hours check per distinct timetable object).
        """
        at = datetime.fromtimestamp(minute * 60, UTC)
        index = self._index()
        known: dict[int, OutletView] = {}
        if hours_ids is None:
            status = self._status_from_views(index, base_status, at, known)  # type: ignore[arg-type]
        else:
            verdict = np.fromiter((tt is not None and tt.is_open(at) is True
                                   for tt in timetables or ()), bool)
            verdict = np.append(verdict, False)  # hours id -1: hours unknown, never open now
            base_status, hours_ids = np.asarray(base_status), np.asarray(hours_ids)
            if base_status.shape != hours_ids.shape:
                raise ValueError("base_status and hours_ids must be of equal length")
            is_open = (base_status == OPEN) & verdict[hours_ids]
            status = np.where(is_open, OPEN, NOT_OPEN).astype(np.int8)

        def code_for(entry: IndexEntry) -> int:
            view = self._changed.get(entry.id, _MISSING)
            if view is _MISSING:
                view = known.get(entry.id) or (self._view_of(entry.id) if self._view_of else None)
            ok = isinstance(view, OutletView) and view.is_open(at) is True
            return OPEN if ok else NOT_OPEN

        layer = index.add_layer(status, code_for, base=base)
        known = {}  # only the rows already pending when the layer was made needed them
        found = OpenMinute(index, layer, minute)
        replaced = self._by_minute.get(minute)
        if replaced is not None:
            replaced.index.drop_layer(replaced.layer)
        kept = [m for m in self._by_minute.items() if m[0] != minute]
        for _, old in kept[: max(0, len(kept) - (MINUTES_KEPT - 1))]:
            old.index.drop_layer(old.layer)
        self._by_minute = dict([*kept[-(MINUTES_KEPT - 1):], (minute, found)])
        return found

    def patch(self, changed: Mapping[int, OutletView | None]) -> None:
        """Announce changed outlets (None: gone or unservable) before the index is written:
        the layers take their status in each minute from these views."""
        self._changed = dict(changed)

    def clear(self) -> None:
        for found in self._by_minute.values():
            found.index.drop_layer(found.layer)
        self._by_minute = {}

    def nbytes(self) -> int:
        """Bytes held by the kept layers."""
        return sum(found.nbytes() for found in self._by_minute.values())

    @staticmethod
    def _status_from_views(index: NearestIndex, views: Iterable[OutletView], at: datetime,
                           pending: dict[int, OutletView]) -> np.ndarray:
        """Layer codes in tree order from views; views of rows in the pending buffer go to
        `pending` (the layer asks for them by id)."""
        verdicts: dict[int, bool] = {}  # per timetable object, not per outlet
        in_pending = set(index.pending_ids().tolist())
        ids, codes = [], []
        for view in views:
            ok = view.status == "open" and view.hours is not None
            if ok:
                verdict = verdicts.get(id(view.hours))
                if verdict is None:
                    verdict = verdicts[id(view.hours)] = view.hours.is_open(at) is True
                ok = verdict
            ids.append(view.id)
            codes.append(OPEN if ok else NOT_OPEN)
            if view.id in in_pending:
                pending[view.id] = view
        base = index.base
        status = np.full(len(base.ids), NOT_OPEN, np.int8)
        positions = base.positions(np.array(ids, np.int64))
        found = positions >= 0
        status[positions[found]] = np.array(codes, np.int8)[found]
        return status
