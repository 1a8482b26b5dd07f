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
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    keys_cache: dict[str, int] = {}
    clock = LocalClock(zones)

    def add(row: EventRow, step: str) -> None:
        day, hour = clock(row)
        region = row.region_id if row.region_id is not None else NONE_ID
        ckey = None
        if row.customer_hash:
            ckey = keys_cache.get(row.customer_hash)
            if ckey is None:
                ckey = keys_cache[row.customer_hash] = customer_key(row.customer_hash)
        for grain in grains:
            if grain == REGION_HOUR:
                key: tuple[Any, ...] = (grain, day, hour, step, region, NONE_ID, NONE_ID)
            elif row.outlet_id is None:
                continue
            elif grain == OUTLET_HOUR:
                key = (grain, day, hour, step, region, row.outlet_id, NONE_ID)
            else:
                key = (grain, day, WHOLE_DAY, step, region, row.outlet_id,
                       row.promotion_id if row.promotion_id is not None else NONE_ID)
            counts[key] += 1
            if ckey is not None:
                members[key].append(ckey)

    for row in rows:
        if row.type in FUNNEL_TYPES:
            add(row, row.type)
    for row in first_proofs(session, rows, zones=zones):
        add(row, "visit")
    cells: dict[CellKey, Cell] = {}
    for key, count in counts.items():
        ids = members.get(key)
        if not ids:
            keys = EMPTY
        elif len(ids) < 32:  # numpy's per-call overhead dominates tiny sets
            keys = np.array(sorted(set(ids)), dtype=np.int64)
        else:
            keys = distinct(np.array(ids, dtype=np.int64))
        cells[CellKey(*key)] = Cell(count=count, parts=[keys] if keys.size else [], _keys=keys)
    return cells


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
