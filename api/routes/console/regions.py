"""Regions (区域): managers see theirs; admins create them (with a boundary pasted as WKT or
GeoJSON), switch them off and on, and put the outlets inside a boundary into the region.

The same services as /api/v1/regions (o2o.catalog.admin_regions): scope, messages, audit
entries (marked "console"), version checks.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import CatalogDep, DbSession, ReadDbSession
from api.routes.console.auth import ConsoleStaff, console_router
from api.routes.console.forms import Posted, model_from_form, problems_of, stale_page, text
from api.routes.console.outlets import Version
from api.routes.console.page import PREFIX, render
from o2o.catalog import admin_regions as svc
from o2o.catalog.models import Outlet
from o2o.catalog.region_schemas import RegionCreate, RegionUpdate
from o2o.errors import PreconditionFailed, ValidationError
from o2o.staff.principal import Principal

router = console_router()
LABELS = {"code": "编号", "name": "名称", "timezone": "时区", "boundary": "边界",
          "active": "状态"}


def _page(request: Request, me: Principal, session: Session, *, status_code: int = 200,
          problems: list[dict[str, str]] | None = None,
          values: dict[str, Any] | None = None, note: str = "") -> HTMLResponse:
    rows, total = svc.list_regions(session, principal=me, limit=200)
    counts = dict(session.execute(sa.select(Outlet.region_id, sa.func.count()).where(
        Outlet.deleted_at.is_(None), Outlet.region_id.in_([r.id for r in rows]))
        .group_by(Outlet.region_id)).all())
    return render(request, "staff/regions.html", status_code=status_code, rows=rows,
                  total=total, counts=counts, problems=problems or [], labels=LABELS,
                  v=values or {"timezone": "Asia/Shanghai"}, note=note,
                  saved=request.query_params.get("saved") == "1")


@router.get("/regions", response_class=HTMLResponse)
def region_list(request: Request, me: ConsoleStaff, session: ReadDbSession) -> Response:
    assigned = request.query_params.get("assigned")
    return _page(request, me, session,
                 note=f"已把边界内的 {assigned} 家门店划入该区域。" if assigned else "")


@router.post("/regions", response_class=HTMLResponse)
def create_region(request: Request, me: ConsoleStaff, session: DbSession, catalog: CatalogDep,
                  form: Posted) -> Response:
    values = {"code": text(form, "code"), "name": text(form, "name"),
              "timezone": text(form, "timezone") or "Asia/Shanghai",
              "boundary": text(form, "boundary") or None}
    try:
        svc.create_region(session, principal=me, region_in=model_from_form(RegionCreate, values),
                          catalog=catalog)
    except ValidationError as exc:
        session.rollback()
        return _page(request, me, session, status_code=422, problems=problems_of(exc),
                     values=values)
    return RedirectResponse(f"{PREFIX}/regions?saved=1", status_code=303)


@router.post("/regions/{region_id}/active", response_class=HTMLResponse)
def set_active(request: Request, region_id: int, me: ConsoleStaff, session: DbSession,
               catalog: CatalogDep, form: Posted, version: Version) -> Response:
    active = text(form, "active") == "1"
    try:
        svc.update_region(session, principal=me, region_id=region_id,
                          region_in=RegionUpdate(active=active), expected_version=version,
                          catalog=catalog)
    except PreconditionFailed:
        session.rollback()
        row = svc.get_region(session, principal=me, region_id=region_id)
        state = {True: "启用", False: "停用"}
        return stale_page(request, form, kind="区域", version=row.version,
                          back=f"{PREFIX}/regions",
                          rows=[(LABELS["active"], state[active], state[row.active])])
    return RedirectResponse(f"{PREFIX}/regions?saved=1", status_code=303)


@router.post("/regions/{region_id}/assign-outlets", response_class=HTMLResponse)
def assign_outlets(request: Request, region_id: int, me: ConsoleStaff, session: DbSession,
                   catalog: CatalogDep) -> Response:
    """Every live outlet inside the boundary joins the region (outlets of other regions too)."""
    try:
        result = svc.assign_outlets(session, principal=me, region_id=region_id,
                                    catalog=catalog)
    except ValidationError as exc:
        session.rollback()
        return _page(request, me, session, status_code=422, problems=problems_of(exc))
    return RedirectResponse(f"{PREFIX}/regions?assigned={result.assigned}", status_code=303)
