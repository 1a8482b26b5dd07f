"""Staff admin API for outlets: thin views over o2o.catalog.admin_outlets (scope lives there)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from api.deps import CatalogDep, CurrentStaff, DbSession, ReadDbSession
from api.params import RowId
from api.responses import CHANGE, CREATE
from api.routes.admin_common import IfMatch, Limit, Offset, admin_router, set_etag
from o2o.catalog import admin_outlets as svc
from o2o.catalog.models import OutletStatus
from o2o.catalog.schemas import OutletCreate, OutletRead, OutletStatusIn, OutletUpdate, Page

router = admin_router(tags=["admin: outlets"])


@router.get("/outlets", summary="Outlets in your scope, filtered and paged")
def list_outlets(
    session: ReadDbSession, principal: CurrentStaff,
    region: Annotated[str | None, Query(description="Region code")] = None,
    city: str | None = None, status: OutletStatus | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in code, name or "
                                                               "address")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[OutletRead]:
    rows, total = svc.list_outlets(session, principal=principal, region=region, city=city,
                                   status=status, q=q, limit=limit, offset=offset)
    return Page[OutletRead](items=[OutletRead.of(r) for r in rows], total=total, limit=limit,
                            offset=offset)


@router.post("/outlets", status_code=status.HTTP_201_CREATED, responses=CREATE,
             summary="Create an outlet")
def create_outlet(outlet_in: OutletCreate, session: DbSession, principal: CurrentStaff,
                  catalog: CatalogDep, response: Response) -> OutletRead:
    row = svc.create_outlet(session, principal=principal, outlet_in=outlet_in, catalog=catalog)
    set_etag(response, row.version)
    response.headers["Location"] = f"/api/v1/outlets/{row.id}"
    return OutletRead.of(row)


@router.get("/outlets/{outlet_id}", summary="One outlet (ETag for later changes)")
def read_outlet(outlet_id: RowId, session: ReadDbSession, principal: CurrentStaff,
                response: Response) -> OutletRead:
    row = svc.get_outlet(session, principal=principal, outlet_id=outlet_id)
    set_etag(response, row.version)
    return OutletRead.of(row)


@router.patch("/outlets/{outlet_id}", responses=CHANGE,
              summary="Change some fields (If-Match required)")
def update_outlet(outlet_id: RowId, outlet_in: OutletUpdate, session: DbSession,
                  principal: CurrentStaff, catalog: CatalogDep, version: IfMatch,
                  response: Response) -> OutletRead:
    row = svc.update_outlet(session, principal=principal, outlet_id=outlet_id,
                            outlet_in=outlet_in, expected_version=version, catalog=catalog)
    set_etag(response, row.version)
    return OutletRead.of(row)


@router.put("/outlets/{outlet_id}/status", responses=CHANGE,
            summary="Open, close temporarily (with a reopening date) or close (If-Match)")
def set_outlet_status(outlet_id: RowId, status_in: OutletStatusIn, session: DbSession,
                      principal: CurrentStaff, catalog: CatalogDep, version: IfMatch,
                      response: Response) -> OutletRead:
    row = svc.set_outlet_status(session, principal=principal, outlet_id=outlet_id,
                                status_in=status_in, expected_version=version, catalog=catalog)
    set_etag(response, row.version)
    return OutletRead.of(row)


@router.delete("/outlets/{outlet_id}", responses=CHANGE,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an outlet (soft: history keeps it; If-Match)")
def delete_outlet(outlet_id: RowId, session: DbSession, principal: CurrentStaff,
                  catalog: CatalogDep, version: IfMatch) -> Response:
    svc.delete_outlet(session, principal=principal, outlet_id=outlet_id,
                      expected_version=version, catalog=catalog)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
