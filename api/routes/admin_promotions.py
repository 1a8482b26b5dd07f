"""Staff admin API for promotions: thin views over o2o.catalog.admin_promotions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status
from pydantic import BaseModel, ConfigDict

from api.deps import CatalogDep, CurrentStaff, DbSession, ReadDbSession, SettingsDep
from api.params import RowId
from api.responses import CHANGE, CREATE
from api.routes.admin_common import IfMatch, Limit, Offset, admin_router, set_etag
from o2o.catalog import admin_promotions as svc
from o2o.catalog.admin_preview import preview_promotion
from o2o.catalog.models import PromotionStatus
from o2o.catalog.schemas import (
    Page,
    PromotionCreate,
    PromotionRead,
    PromotionStatusIn,
    PromotionUpdate,
)

router = admin_router(tags=["admin: promotions"])


@router.get("/promotions", summary="Promotions you may see, highest priority first")
def list_promotions(
    session: ReadDbSession, principal: CurrentStaff, status: PromotionStatus | None = None,
    outlet: Annotated[str | None, Query(description="Only those listing this outlet code")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in code or title")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[PromotionRead]:
    rows, total = svc.list_promotions(session, principal=principal, status=status,
                                      outlet=outlet, q=q, limit=limit, offset=offset)
    return Page[PromotionRead](items=[PromotionRead.of(r) for r in rows], total=total,
                               limit=limit, offset=offset)


@router.post("/promotions", status_code=status.HTTP_201_CREATED, responses=CREATE,
             summary="Create a promotion (a draft until published)")
def create_promotion(promotion_in: PromotionCreate, session: DbSession,
                     principal: CurrentStaff, catalog: CatalogDep,
                     response: Response) -> PromotionRead:
    row = svc.create_promotion(session, principal=principal, promotion_in=promotion_in,
                               catalog=catalog)
    set_etag(response, row.version)
    response.headers["Location"] = f"/api/v1/promotions/{row.id}"
    return PromotionRead.of(row)


@router.get("/promotions/{promotion_id}", summary="One promotion (ETag for later changes)")
def read_promotion(promotion_id: RowId, session: ReadDbSession, principal: CurrentStaff,
                   response: Response) -> PromotionRead:
    row = svc.get_promotion(session, principal=principal, promotion_id=promotion_id)
    set_etag(response, row.version)
    return PromotionRead.of(row)


@router.patch("/promotions/{promotion_id}", responses=CHANGE,
              summary="Change some fields (If-Match required)")
def update_promotion(promotion_id: RowId, promotion_in: PromotionUpdate, session: DbSession,
                     principal: CurrentStaff, catalog: CatalogDep, version: IfMatch,
                     response: Response) -> PromotionRead:
    row = svc.update_promotion(session, principal=principal, promotion_id=promotion_id,
                               promotion_in=promotion_in, expected_version=version,
                               catalog=catalog)
    set_etag(response, row.version)
    return PromotionRead.of(row)


@router.put("/promotions/{promotion_id}/status", responses=CHANGE,
            summary="Publish, withdraw to draft or archive (If-Match)")
def set_promotion_status(promotion_id: RowId, status_in: PromotionStatusIn, session: DbSession,
                         principal: CurrentStaff, catalog: CatalogDep, version: IfMatch,
                         response: Response) -> PromotionRead:
    row = svc.set_promotion_status(session, principal=principal, promotion_id=promotion_id,
                                   status_in=status_in, expected_version=version,
                                   catalog=catalog)
    set_etag(response, row.version)
    return PromotionRead.of(row)


@router.delete("/promotions/{promotion_id}", responses=CHANGE,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a never-published draft (archive the others; If-Match)")
def delete_promotion(promotion_id: RowId, session: DbSession, principal: CurrentStaff,
                     catalog: CatalogDep, version: IfMatch) -> Response:
    svc.delete_promotion(session, principal=principal, promotion_id=promotion_id,
                         expected_version=version, catalog=catalog)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PreviewRead(BaseModel):
    """The API's view of o2o.catalog.admin_preview.Preview, read from its attributes."""

    model_config = ConfigDict(from_attributes=True)

    outlet: str
    promotion: str
    title: str
    description: str
    pic_url: str
    url: str
    xml: str
    shown_now: bool
    reasons: list[str]


@router.get("/promotions/{promotion_id}/preview",
            summary="The exact WeChat card a customer near the outlet would get")
def preview(
    promotion_id: RowId, session: ReadDbSession, principal: CurrentStaff, catalog: CatalogDep,
    settings: SettingsDep,
    outlet: Annotated[str, Query(max_length=64, description="Outlet code")],
    distance_m: Annotated[float, Query(ge=0, le=20_037_600,
                                       description="Distance shown in the title")] = 300.0,
) -> PreviewRead:
    p = preview_promotion(session, principal=principal, promotion_id=promotion_id,
                          outlet_code=outlet, settings=settings, catalog=catalog,
                          distance_m=distance_m)
    return PreviewRead.model_validate(p)
