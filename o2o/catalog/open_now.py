"""Which outlets are open now, as a nearest index of their own, one per minute.

"Open now" near a customer at night is a needle in a haystack: filtering the nearest outlets
one by one with an opening-hours check made a request cost time in proportion to the chain
(0.15 s at 200k outlets, issue 19). Opening hours are whole minutes of wall-clock time, and
zone offsets are whole minutes, so the open set cannot change inside a UTC minute. So per
minute a worker builds an index of exactly the outlets open in it, evaluating the hours once
per distinct timetable (compiled timetables are shared objects), patches it with every live
change like the main index, and an "open now" query is an ordinary exact nearest search in
it: no opening-hours check per outlet per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from o2o.catalog.views import OutletView, index_entry
from o2o.geo.index import STATUS_CODE, NearestIndex

#: Minutes whose index a worker keeps: the current one and the next, built ahead of time.
MINUTES_KEPT = 2


def minute_of(at: datetime) -> int:
    """The UTC minute number of an aware instant."""
    return int(at.timestamp() // 60)


class OpenNow:
    """Indexes of the outlets open in a minute, for the few minutes around now.

    The owner (the catalog) serialises build, patch and clear; readers only call `get`.
    """

    def __init__(self) -> None:
        self._by_minute: dict[int, NearestIndex] = {}

    def get(self, minute: int) -> NearestIndex | None:
        return self._by_minute.get(minute)

    def build(self, minute: int, outlets: Iterable[OutletView]) -> NearestIndex:
        """Index the outlets open throughout `minute`; keeps it with the newest others."""
        at = datetime.fromtimestamp(minute * 60, UTC)
        verdicts: dict[int, bool] = {}  # per timetable object, not per outlet
        rows = [v for v in outlets if _open(v, at, verdicts)]
        index = NearestIndex()
        index.build_arrays([v.id for v in rows], [v.lat for v in rows], [v.lng for v in rows],
                           status=[STATUS_CODE["open"]] * len(rows), tags=[v.tags for v in rows])
        newest = list(self._by_minute.items())[-(MINUTES_KEPT - 1):]  # MINUTES_KEPT >= 2
        self._by_minute = dict([*newest, (minute, index)])
        return index

    def patch(self, changed: Mapping[int, OutletView | None]) -> None:
        """Apply changed outlets (None: gone or unservable) to every minute kept."""
        for minute, index in self._by_minute.items():
            at = datetime.fromtimestamp(minute * 60, UTC)
            for oid, view in changed.items():
                if view is not None and view.is_open(at) is True:
                    index.upsert(index_entry(view))
                else:
                    index.remove(oid)

    def clear(self) -> None:
        self._by_minute = {}


def _open(view: OutletView, at: datetime, verdicts: dict[int, bool]) -> bool:
    if view.status != "open" or view.hours is None:
        return False
    verdict = verdicts.get(id(view.hours))
    if verdict is None:
        verdict = verdicts[id(view.hours)] = view.hours.is_open(at)
    return verdict
