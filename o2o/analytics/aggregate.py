"""Raw events → cells, the one place where steps, local time and store-proven visits are decided.

A *visit* is store-proven: a `visit` (geofenced check-in) or a `redemption` event, counted
once per customer, outlet and local day, at the first such proof recorded (lowest id). Clicks
never count as visits. Used by the rollup, by the un-rolled tail of every query, and by the
raw path, so all three agree by construction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.cells import EMPTY, Cell, CellKey, customer_key, distinct
from o2o.analytics.models import Event
from o2o.analytics.rollup_models import NONE_ID, OUTLET_HOUR, REGION_HOUR, WHOLE_DAY
from o2o.analytics.zones import ZoneBook, local_day_hour, zone

FUNNEL_TYPES = ("query", "impression", "click", "claim", "redemption")
PROOF_TYPES = ("visit", "redemption")
READ_TYPES = ("query", "impression", "click", "claim", "redemption", "visit")
_CHUNK = 500
_SAME_DAY = timedelta(hours=26)


class EventRow(NamedTuple):
    id: int
    occurred_at: datetime
    type: str
    customer_hash: str | None
    outlet_id: int | None
    promotion_id: int | None
    region_id: int | None


def event_select() -> sa.Select[Any]:
    """The columns the aggregator reads, restricted to the steps it counts."""
    return sa.select(Event.id, Event.occurred_at, Event.type, Event.customer_hash,
                     Event.outlet_id, Event.promotion_id, Event.region_id) \
        .where(Event.type.in_(READ_TYPES))


def rows_of(result: sa.Result[Any]) -> list[EventRow]:
    """Rows as EventRow; fetched in one go (row-at-a-time fetching costs twice as much).
    A query row that carries its first card's outlet (`Event`) becomes the two rows it
    stands for: the query, without outlet or offer, and that outlet's impression."""
    out = []
    for r in result.all():
        typ = str(r[2])
        if typ == "query" and r[4] is not None:
            out.append(EventRow(r[0], r[1], typ, r[3], None, None, r[6]))
            typ = "impression"
        out.append(EventRow(r[0], r[1], typ, r[3], r[4], r[5], r[6]))
    return out


def build_cells(session: Session, rows: Sequence[EventRow], *, zones: ZoneBook,
                grains: Sequence[str]) -> dict[CellKey, Cell]:
    """Aggregate events into cells of the given grains (region hour, outlet day, outlet hour)."""
    builder = CellBuilder(zones, grains)
    builder.add_rows(rows)
    return builder.cells(session, rows)


class CellBuilder:
    """Cells built event by event, so that the rollup can end a piece before its cells are
    too many (`take`) instead of building a batch and cutting it after.

    Its length counts the cells added so far and, for every proof among them, the cells
    its visit would add: which proofs are first visits is decided once the rows are all in
    (`cells`), so until then the length is an upper bound of the cells to come.
    """

    def __init__(self, zones: ZoneBook, grains: Sequence[str]) -> None:
        self.grains = tuple(grains)
        self._zones = zones
        self._clock = LocalClock(zones)
        self._counts: dict[tuple[Any, ...], int] = defaultdict(int)
        self._members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        self._visits: set[tuple[Any, ...]] = set()
        self._customer_keys: dict[str, int] = {}
        #: The most cells one row can add: one per grain, and as many for its visit.
        self._most = 2 * len(self.grains)

    def __len__(self) -> int:
        return len(self._counts) + len(self._visits)

    def add_rows(self, rows: Sequence[EventRow]) -> None:
        keys_of, add = self._keys, self._add
        for row in rows:
            if row.type in FUNNEL_TYPES:
                add(row, row.type, keys_of(row, row.type))

    def take(self, rows: Sequence[EventRow], begin: int, limit: int) -> int:
        """Add rows from `begin` event by event (the rows of one id together) while the
        cells stay within `limit`, and at least one event; returns where it stopped."""
        i, n = begin, len(rows)
        counts, visits = self._counts, self._visits
        while i < n:
            if len(self) + self._most * (n - i) <= limit:  # the rest fits whatever it holds
                rest = rows[i:]
                self.add_rows(rest)
                visits.update(key for row in rest if row.type in PROOF_TYPES
                              for key in self._keys(row, "visit"))
                return n
            j = i + 1
            while j < n and rows[j].id == rows[i].id:
                j += 1
            steps, seen, grow = [], [], 0
            for row in rows[i:j]:
                if row.type in FUNNEL_TYPES:
                    keys = self._keys(row, row.type)
                    steps.append((row, keys))
                    grow += sum(key not in counts for key in keys)
                if row.type in PROOF_TYPES:
                    fresh = [key for key in self._keys(row, "visit") if key not in visits]
                    seen += fresh
                    grow += len(fresh)
            if i > begin and len(self) + grow > limit:
                break
            for row, keys in steps:
                self._add(row, row.type, keys)
            visits.update(seen)
            i = j
        return i

    def cells(self, session: Session, rows: Sequence[EventRow]) -> dict[CellKey, Cell]:
        """The cells of `rows` (every row added before), first visits included."""
        for row in first_proofs(session, rows, zones=self._zones):
            self._add(row, "visit", self._keys(row, "visit"))
        cells: dict[CellKey, Cell] = {}
        for key, count in self._counts.items():
            ids = self._members.get(key)
            if not ids:
                keys = EMPTY
            elif len(ids) < 32:  # numpy's per-call overhead dominates tiny sets
                keys = np.array(sorted(set(ids)), dtype=np.int64)
            else:
                keys = distinct(np.array(ids, dtype=np.int64))
            cells[CellKey(*key)] = Cell(count=count, parts=[keys] if keys.size else [],
                                        _keys=keys)
        return cells

    def _keys(self, row: EventRow, step: str) -> list[tuple[Any, ...]]:
        """The cells `row` counts in as `step`, one per grain that applies to it."""
        day, hour = self._clock(row)
        region = row.region_id if row.region_id is not None else NONE_ID
        outlet = row.outlet_id
        out: list[tuple[Any, ...]] = []
        for grain in self.grains:
            if grain == REGION_HOUR:
                out.append((grain, day, hour, step, region, NONE_ID, NONE_ID))
            elif outlet is None:
                continue
            elif grain == OUTLET_HOUR:
                out.append((grain, day, hour, step, region, outlet, NONE_ID))
            else:
                out.append((grain, day, WHOLE_DAY, step, region, outlet,
                            row.promotion_id if row.promotion_id is not None else NONE_ID))
        return out

    def _add(self, row: EventRow, step: str, keys: list[tuple[Any, ...]]) -> None:
        counts = self._counts
        for key in keys:
            counts[key] += 1
        who = row.customer_hash
        if who:
            ckey = self._customer_keys.get(who)
            if ckey is None:
                ckey = self._customer_keys[who] = customer_key(who)
            members = self._members
            for key in keys:
                members[key].append(ckey)


class LocalClock:
    """Local (day, hour) of an event, cached per zone and UTC quarter hour: every zone's
    offset and every DST switch falls on a quarter hour, so the cache is exact."""

    def __init__(self, zones: ZoneBook) -> None:
        self._zones = zones
        self._cache: dict[tuple[str, int], tuple[Any, int]] = {}

    def __call__(self, row: EventRow) -> tuple[Any, int]:
        name = self._zones.name_for(row.outlet_id, row.region_id)
        slot = (name, int(row.occurred_at.timestamp()) // 900)
        hit = self._cache.get(slot)
        if hit is None:
            hit = self._cache[slot] = local_day_hour(row.occurred_at, zone(name))
        return hit


def first_proofs(session: Session, rows: Sequence[EventRow], *, zones: ZoneBook
                 ) -> list[EventRow]:
    """The proof events among `rows` that are the first (lowest id) proof of their customer,
    outlet and local day anywhere in the log; a proof without a customer always counts."""
    proofs = [r for r in rows if r.type in PROOF_TYPES]
    if not proofs:
        return []
    known = [r for r in proofs if r.customer_hash]
    first: dict[tuple[str, int | None, Any], int] = {}
    clock = LocalClock(zones)

    def note(row: EventRow) -> tuple[str, int | None, Any]:
        day, _ = clock(row)
        key = (row.customer_hash or "", row.outlet_id, day)
        if row.id < first.get(key, row.id + 1):
            first[key] = row.id
        return key

    for row in known:
        note(row)
    if known:
        lo = min(r.occurred_at for r in known) - _SAME_DAY
        hi = max(r.occurred_at for r in known) + _SAME_DAY
        customers = sorted({r.customer_hash for r in known if r.customer_hash})
        for start in range(0, len(customers), _CHUNK):
            chunk = customers[start:start + _CHUNK]
            stmt = sa.select(Event.id, Event.occurred_at, Event.type, Event.customer_hash,
                             Event.outlet_id, Event.promotion_id, Event.region_id).where(
                Event.type.in_(PROOF_TYPES), Event.customer_hash.in_(chunk),
                Event.occurred_at >= lo, Event.occurred_at < hi)
            for other in rows_of(session.connection().execute(stmt)):
                note(other)
    out = []
    for row in proofs:
        if not row.customer_hash:
            out.append(row)
            continue
        day, _ = clock(row)
        if first[(row.customer_hash, row.outlet_id, day)] == row.id:
            out.append(row)
    return out
