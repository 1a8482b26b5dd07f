"""Managers' analytics under /api/v1/analytics: funnel, promotions, demand, each also as CSV.

Every route needs a staff token and reads only the caller's scope: an admin sees all
regions, a manager their own (another region or outlet is 404, no regions is 403), store
staff none (403). Dates are local calendar days, both ends included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Response

from api.deps import CatalogDep, CurrentStaff, ReadDbSession
from api.params import Day, RowId
from api.responses import STAFF
from o2o.analytics import export
from o2o.analytics.demand import DemandReport, demand_grid, open_here_next
from o2o.analytics.events import DEMAND_RES
from o2o.analytics.funnel import FunnelReport, funnel
from o2o.analytics.maintenance import Maintenance
from o2o.analytics.promotions import PromotionReport, promotion_report
from o2o.analytics.scope import Scope, check_scope
from o2o.catalog.models import Outlet, Region
from o2o.errors import PermissionDenied
from o2o.staff.models import Role


@asynccontextmanager
async def _maintenance(app: FastAPI) -> AsyncIterator[None]:
    """Fold events into funnel cells and purge old positions on a schedule in each worker."""
    services = app.state.services
    settings = services.settings
    job = Maintenance(services.sessions, retention_days=settings.retention_days,
                      rollup_s=settings.analytics_rollup_every_s,
                      purge_s=settings.analytics_purge_every_s)
    job.start()
    try:
        yield
    finally:
        job.close()


router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], lifespan=_maintenance,
                   responses=STAFF)
#: The CSV exports' 200 (UTF-8 with BOM).
CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
             "description": "CSV, UTF-8 with BOM"}}


def analytics_scope(staff: CurrentStaff) -> Scope:
    """None for an admin (everything), the managed regions for a manager; staff get 403."""
    if staff.is_admin:
        return None
    if staff.role is not Role.MANAGER:
        raise PermissionDenied("Analytics are for regional managers and admins.")
    return frozenset(staff.region_ids)


AnalyticsScope = Annotated[Scope, Depends(analytics_scope)]
GroupBy = Literal["none", "day", "weekday", "hour", "weekday_hour", "region", "outlet"]


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


class Range:
    """`from`/`to` (local days, inclusive); the last 30 days up to today by default."""

    def __init__(self, date_from: Annotated[Day | None, Query(alias="from")] = None,
                 date_to: Annotated[Day | None, Query(alias="to")] = None) -> None:
        self.date_to = date_to or _today()
        self.date_from = date_from or self.date_to - timedelta(days=29)


RangeDep = Annotated[Range, Depends()]
RegionQ = Annotated[RowId | None, Query(description="One region of your scope")]
OutletQ = Annotated[RowId | None, Query(description="One outlet of your scope")]
ResQ = Annotated[int, Query(ge=4, le=DEMAND_RES, description="H3 resolution (8 ≈ 0.7 km²)")]


def _csv(text: str, name: str, rng: Range) -> Response:
    filename = f"{name}_{rng.date_from.isoformat()}_{rng.date_to.isoformat()}.csv"
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@router.get("/scope", summary="The regions and outlets the caller may report on")
def scope(session: ReadDbSession, staff: CurrentStaff, regions: AnalyticsScope) -> dict[str, Any]:
    check_scope(regions)
    rq = sa.select(Region.id, Region.code, Region.name, Region.timezone).order_by(Region.id)
    oq = sa.select(Outlet.id, Outlet.code, Outlet.name, Outlet.region_id, Outlet.lat, Outlet.lng) \
        .where(Outlet.deleted_at.is_(None)).order_by(Outlet.id)
    if regions is not None:
        rq, oq = rq.where(Region.id.in_(regions)), oq.where(Outlet.region_id.in_(regions))
    return {"name": staff.name, "role": str(staff.role),
            "regions": [r._asdict() for r in session.execute(rq)],
            "outlets": [o._asdict() for o in session.execute(oq)]}


def _funnel(session: ReadDbSession, regions: AnalyticsScope, rng: RangeDep,
            group_by: GroupBy = "none", region_id: RegionQ = None,
            outlet_id: OutletQ = None) -> FunnelReport:
    return funnel(session, scope=regions, date_from=rng.date_from, date_to=rng.date_to,
                  group_by=group_by, region_id=region_id, outlet_id=outlet_id)


@router.get("/funnel", summary="Queries → impressions → clicks → claims → redemptions, visits")
def funnel_json(report: Annotated[FunnelReport, Depends(_funnel)]) -> dict[str, Any]:
    return report.as_dict()


@router.get("/funnel.csv", response_class=Response, responses=CSV,
            summary="The funnel as CSV (UTF-8 with BOM, opens in Excel)")
def funnel_file(report: Annotated[FunnelReport, Depends(_funnel)], rng: RangeDep) -> Response:
    return _csv(export.funnel_csv(report), f"funnel_{report.group_by}", rng)


def _promotions(session: ReadDbSession, regions: AnalyticsScope, rng: RangeDep,
                region_id: RegionQ = None, outlet_id: OutletQ = None) -> PromotionReport:
    return promotion_report(session, scope=regions, date_from=rng.date_from,
                            date_to=rng.date_to, region_id=region_id, outlet_id=outlet_id)


@router.get("/promotions", summary="Claims and redemptions per promotion, by outlet")
def promotions_json(report: Annotated[PromotionReport, Depends(_promotions)]) -> dict[str, Any]:
    return report.as_dict()


@router.get("/promotions.csv", response_class=Response, responses=CSV,
            summary="Promotions as CSV")
def promotions_file(report: Annotated[PromotionReport, Depends(_promotions)],
                    rng: RangeDep) -> Response:
    return _csv(export.promotions_csv(report), "promotions", rng)


def _demand(session: ReadDbSession, catalog: CatalogDep, regions: AnalyticsScope, rng: RangeDep,
            region_id: RegionQ = None, res: ResQ = DEMAND_RES,
            limit: Annotated[int, Query(ge=1, le=5000)] = 2000) -> DemandReport:
    return demand_grid(session, catalog=catalog, scope=regions, date_from=rng.date_from,
                       date_to=rng.date_to, region_id=region_id, res=res, limit=limit)


@router.get("/demand", summary="Chat queries per H3 cell, with the nearest open outlet now")
def demand_json(report: Annotated[DemandReport, Depends(_demand)]) -> dict[str, Any]:
    return report.as_dict()


@router.get("/demand.csv", response_class=Response, responses=CSV,
            summary="The demand grid as CSV")
def demand_file(report: Annotated[DemandReport, Depends(_demand)], rng: RangeDep) -> Response:
    return _csv(export.demand_csv(report), "demand", rng)


class NextQuery:
    """Thresholds of the "open here next" list."""

    def __init__(self,
                 min_queries: Annotated[int, Query(ge=1, le=1_000_000)] = 10,
                 radius_km: Annotated[float, Query(gt=0, le=1000)] = 3.0,
                 top: Annotated[int, Query(ge=1, le=500)] = 50) -> None:
        self.min_queries, self.radius_km, self.top = min_queries, radius_km, top


def _next(report: Annotated[DemandReport, Depends(_demand)],
          q: Annotated[NextQuery, Depends()]) -> dict[str, Any]:
    cells = open_here_next(report, min_queries=q.min_queries, radius_km=q.radius_km,
                           limit=q.top)
    return {"from": report.date_from.isoformat(), "to": report.date_to.isoformat(),
            "res": report.res, "region_ids": report.regions, "min_queries": q.min_queries,
            "radius_km": q.radius_km, "cells": cells}


@router.get("/open-next", summary='"Open here next": busy cells with no open outlet near')
def next_json(found: Annotated[dict[str, Any], Depends(_next)]) -> dict[str, Any]:
    return found | {"cells": [c.as_dict() for c in found["cells"]]}


@router.get("/open-next.csv", response_class=Response, responses=CSV,
            summary='"Open here next" as CSV')
def next_file(found: Annotated[dict[str, Any], Depends(_next)], rng: RangeDep) -> Response:
    return _csv(export.demand_csv(found["cells"]), "open_next", rng)
