"""Where people ask from: chat queries per H3 cell, how far the nearest open outlet is now,
and the "open here next" list of busy cells with no outlet within reach.

Only the H3 cell of a query is used (the coarsened position may already be purged), so the
grid survives retention. Distances come from the live nearest index at the cell centre.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import h3
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.events import DEMAND_RES
from o2o.analytics.models import Event, EventType
from o2o.analytics.scope import Scope, check_range, regions_in_view
from o2o.analytics.source import begin_snapshot
from o2o.analytics.zones import ZoneBook, local_day_hour, widened_utc_range
from o2o.errors import ValidationError
from o2o.geo.distance import format_distance_zh

MIN_RES = 4
MAX_CELLS = 5000


class _Index(Protocol):
    def nearest(self, lat: float, lng: float, k: int = ...) -> list[Any]: ...


class CatalogLike(Protocol):
    """What demand needs of the live catalog: the nearest index (open outlets) and names."""

    index: _Index

    def outlet(self, outlet_id: int) -> Any: ...


@dataclass(frozen=True, slots=True)
class DemandCell:
    cell: str
    lat: float
    lng: float
    boundary: list[list[float]]
    queries: int
    uniques: int
    #: Mean recorded distance to the nearest open outlet when the queries were made.
    recorded_distance_m: float | None
    nearest_outlet_id: int | None
    nearest_outlet: str | None
    nearest_distance_m: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "lat": self.lat, "lng": self.lng, "boundary": self.boundary,
                "queries": self.queries, "uniques": self.uniques,
                "recorded_distance_m": self.recorded_distance_m,
                "nearest_outlet_id": self.nearest_outlet_id,
                "nearest_outlet": self.nearest_outlet,
                "nearest_distance_m": self.nearest_distance_m,
                # Said the way a customer's reply says it: one rounding for every reader.
                "nearest_distance_text": None if self.nearest_distance_m is None
                else format_distance_zh(self.nearest_distance_m)}


@dataclass(frozen=True, slots=True)
class DemandReport:
    date_from: date
    date_to: date
    res: int
    regions: list[int] | None
    cells: list[DemandCell] = field(default_factory=list)
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "res": self.res, "region_ids": self.regions, "truncated": self.truncated,
                "queries": sum(c.queries for c in self.cells),
                "cells": [c.as_dict() for c in self.cells]}


def check_res(res: int) -> None:
    if not MIN_RES <= res <= DEMAND_RES:
        raise ValidationError(f"res must be between {MIN_RES} and {DEMAND_RES}",
                              details=[{"field": "res", "message": f"{MIN_RES}..{DEMAND_RES}"}])


def demand_grid(session: Session, *, catalog: CatalogLike, scope: Scope, date_from: date,
                date_to: date, region_id: int | None = None, res: int = DEMAND_RES,
                limit: int = MAX_CELLS) -> DemandReport:
    """Queries per H3 cell (busiest first) with unique customers and the nearest open outlet."""
    check_range(date_from, date_to)
    check_res(res)
    regions = regions_in_view(session, scope=scope, region_id=region_id)
    queries: dict[str, int] = defaultdict(int)
    customers: dict[str, set[str]] = defaultdict(set)
    distance: dict[str, list[float]] = defaultdict(list)
    for cell, customer, dist in _queries(session, regions, date_from, date_to):
        if res != DEMAND_RES:
            cell = h3.cell_to_parent(cell, res)
        queries[cell] += 1
        if customer:
            customers[cell].add(customer)
        if dist is not None:
            distance[cell].append(dist)
    ranked = sorted(queries, key=lambda c: (-queries[c], -len(customers[c]), c))
    cells = [_cell(catalog, c, queries[c], len(customers[c]), distance[c])
             for c in ranked[:limit]]
    return DemandReport(date_from, date_to, res, None if regions is None else sorted(regions),
                        cells, truncated=len(ranked) > limit)


def open_here_next(report: DemandReport, *, min_queries: int, radius_km: float,
                   limit: int = 50) -> list[DemandCell]:
    """Cells with at least `min_queries` queries and no open outlet within `radius_km`."""
    if min_queries < 1:
        raise ValidationError("min_queries must be at least 1",
                              details=[{"field": "min_queries", "message": ">= 1"}])
    if not radius_km > 0:
        raise ValidationError("radius_km must be positive",
                              details=[{"field": "radius_km", "message": "> 0"}])
    far = [c for c in report.cells if c.queries >= min_queries and
           (c.nearest_distance_m is None or c.nearest_distance_m > radius_km * 1000)]
    return far[:limit]


def _queries(session: Session, regions: Scope, date_from: date, date_to: date
             ) -> list[tuple[str, str | None, float | None]]:
    """(cell, customer, recorded distance) of the query events in the local date range."""
    begin_snapshot(session)
    zones = ZoneBook.load(session)
    lo, hi = widened_utc_range(date_from, date_to)
    # A query's outlet, when it carries one, is its first card's (`Event`): a query's day
    # is its region's, as it always was.
    stmt = sa.select(Event.cell, Event.customer_hash, Event.distance_m, Event.occurred_at,
                     Event.region_id).where(
        Event.type == EventType.QUERY, Event.cell.is_not(None),
        Event.occurred_at >= lo, Event.occurred_at < hi)
    if regions is not None:
        stmt = stmt.where(Event.region_id.in_(sorted(regions)))
    out = []
    for cell, customer, dist, at, region_id in session.execute(stmt):
        day, _ = local_day_hour(at, zones.zone_for(None, region_id))
        if date_from <= day <= date_to and h3.is_valid_cell(cell):
            out.append((cell, customer, dist))
    return out


def _cell(catalog: CatalogLike, cell: str, queries: int, uniques: int,
          distances: list[float]) -> DemandCell:
    lat, lng = h3.cell_to_latlng(cell)
    boundary = [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)]
    hits = catalog.index.nearest(lat, lng, 1)
    hit = hits[0] if hits else None
    view = catalog.outlet(hit.id) if hit is not None else None
    return DemandCell(
        cell=cell, lat=round(lat, 6), lng=round(lng, 6), boundary=boundary, queries=queries,
        uniques=uniques,
        recorded_distance_m=round(sum(distances) / len(distances), 1) if distances else None,
        nearest_outlet_id=hit.id if hit else None,
        nearest_outlet=f"{view.name} ({view.code})" if view is not None else None,
        nearest_distance_m=round(hit.distance_m, 1) if hit else None)
