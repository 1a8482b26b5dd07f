"""Region admin API: thin views over o2o.catalog.admin_regions (scope lives there)."""

from __future__ import annotations

from fastapi import Response, status

from api.deps import CatalogDep, CurrentStaff, DbSession, ReadDbSession
from api.params import RowId
from api.responses import CHANGE, CREATE
from api.routes.admin_common import IfMatch, Limit, Offset, admin_router, set_etag
from o2o.catalog import admin_regions as svc
from o2o.catalog.region_schemas import (
    AssignOutletsIn,
    AssignOutletsResult,
    RegionCreate,
    RegionRead,
    RegionUpdate,
)
from o2o.catalog.schemas import Page

router = admin_router(tags=["admin: regions"])


@router.get("/regions", summary="Regions: all for admins, their own for managers")
def list_regions(session: ReadDbSession, principal: CurrentStaff, active: bool | None = None,
                 limit: Limit = 50, offset: Offset = 0) -> Page[RegionRead]:
    rows, total = svc.list_regions(session, principal=principal, active=active, limit=limit,
                                   offset=offset)
    return Page[RegionRead](items=[RegionRead.of(r) for r in rows], total=total, limit=limit,
                            offset=offset)


@router.post("/regions", status_code=status.HTTP_201_CREATED, responses=CREATE,
             summary="Create a region, optionally with a boundary (WKT or GeoJSON)")
def create_region(region_in: RegionCreate, session: DbSession, principal: CurrentStaff,
                  catalog: CatalogDep, response: Response) -> RegionRead:
    row = svc.create_region(session, principal=principal, region_in=region_in, catalog=catalog)
    set_etag(response, row.version)
    response.headers["Location"] = f"/api/v1/regions/{row.id}"
    return RegionRead.of(row)


@router.get("/regions/{region_id}", summary="One region (ETag for later changes)")
def read_region(region_id: RowId, session: ReadDbSession, principal: CurrentStaff,
                response: Response) -> RegionRead:
    row = svc.get_region(session, principal=principal, region_id=region_id)
    set_etag(response, row.version)
    return RegionRead.of(row)


@router.patch("/regions/{region_id}", responses=CHANGE,
              summary="Change fields; active=false deactivates (If-Match required)")
def update_region(region_id: RowId, region_in: RegionUpdate, session: DbSession,
                  principal: CurrentStaff, catalog: CatalogDep, version: IfMatch,
                  response: Response) -> RegionRead:
    row = svc.update_region(session, principal=principal, region_id=region_id,
                            region_in=region_in, expected_version=version, catalog=catalog)
    set_etag(response, row.version)
    return RegionRead.of(row)


@router.post("/regions/{region_id}/assign-outlets", responses=CREATE,
             summary="Put the live outlets inside the boundary into this region")
def assign_outlets(region_id: RowId, session: DbSession, principal: CurrentStaff,
                   catalog: CatalogDep,
                   assign_in: AssignOutletsIn | None = None) -> AssignOutletsResult:
    assign_in = assign_in or AssignOutletsIn()
    return svc.assign_outlets(session, principal=principal, region_id=region_id,
                              only_unassigned=assign_in.only_unassigned,
                              dry_run=assign_in.dry_run, catalog=catalog)
