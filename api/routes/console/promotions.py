"""Promotions in my scope: list by status, create or copy, edit the schedule and reach,
preview the exact chat card, publish and archive.

Every change goes through o2o.catalog.admin_promotions (scope, messages, audit, version, change
feed) and the preview through o2o.catalog.admin_preview, the renderer /wechat uses.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import CatalogDep, DbSession, ReadDbSession, SettingsDep
from api.params import RowId
from api.routes.console.auth import ConsoleStaff, console_router
from api.routes.console.forms import (
    Posted,
    Version,
    model_from_form,
    problems_of,
    stale_page,
    text,
)
from api.routes.console.page import PREFIX, render
from api.routes.console.promotion_form import (
    LABELS,
    LIMITS,
    SCOPE_TEXT,
    STATUS_TEXT,
    WEEKDAYS,
    fields_from_form,
    form_values,
    schedule_text,
    summary,
    values_from_form,
)
from o2o.catalog import admin_outlets, admin_preview
from o2o.catalog import admin_promotions as svc
from o2o.catalog.models import Outlet, Promotion, PromotionScope
from o2o.catalog.runtime import Catalog
from o2o.catalog.schemas import PromotionCreate, PromotionStatusIn, PromotionUpdate
from o2o.config import Settings
from o2o.errors import Conflict, NotFound, PreconditionFailed, ValidationError
from o2o.staff.models import Role
from o2o.staff.principal import Principal

router = console_router()
#: Up to this many outlets in scope are offered as checkboxes; more, as a field of codes.
CHECKBOX_OUTLETS = 50
#: Status buttons offered on a promotion in each status: (new status, label, style).
ACTIONS = {
    "draft": [("published", "发布", "ok"), ("archived", "归档", "ghost")],
    "published": [("draft", "撤回为草稿", "ghost"), ("archived", "归档", "warn")],
    "archived": [("draft", "重新用作草稿", "ghost")],
}


def _scopes(me: Principal) -> list[str]:
    return {Role.STAFF: ["outlets"], Role.MANAGER: ["outlets", "region"]}.get(
        me.role, ["outlets", "region", "all"])


def _form_page(request: Request, me: Principal, session: Session, *, values: dict[str, Any],
               row: Promotion | None, status_code: int = 200,
               problems: list[dict[str, str]] | None = None, **extra: Any) -> HTMLResponse:
    outlets, total = admin_outlets.list_outlets(session, principal=me, limit=CHECKBOX_OUTLETS)
    return render(request, "staff/promotion.html", status_code=status_code, p=row, v=values,
                  problems=problems or [], labels=LABELS, limits=LIMITS, weekdays=WEEKDAYS,
                  scopes=_scopes(me), scope_text=SCOPE_TEXT, status_text=STATUS_TEXT,
                  regions=svc.regions_for(session, principal=me),
                  outlets=outlets if total <= CHECKBOX_OUTLETS else None,
                  bytes_of=lambda s: len((s or "").encode("utf-8")), **extra)


@router.get("/promotions", response_class=HTMLResponse)
def promotion_list(request: Request, me: ConsoleStaff, session: ReadDbSession,
                   status: str = "") -> Response:
    rows, total = svc.list_promotions(session, principal=me, status=status or None, limit=200)
    return render(request, "staff/promotions.html", rows=rows, total=total, status=status,
                  status_text=STATUS_TEXT, scope_text=SCOPE_TEXT, schedule_text=schedule_text)


@router.get("/promotions/new", response_class=HTMLResponse)
def new_promotion(request: Request, me: ConsoleStaff, session: ReadDbSession,
                  copy: RowId | None = None) -> Response:
    """A blank form, or a copy of a promotion the caller can read (all but its code)."""
    source = svc.get_promotion(session, principal=me, promotion_id=copy) if copy else None
    return _form_page(request, me, session, values=form_values(source, copy=True), row=None)


@router.post("/promotions", response_class=HTMLResponse)
def create_promotion(request: Request, me: ConsoleStaff, session: DbSession,
                     catalog: CatalogDep, form: Posted) -> Response:
    try:
        promotion_in = model_from_form(PromotionCreate, fields_from_form(form))
        row = svc.create_promotion(session, principal=me, promotion_in=promotion_in,
                                   catalog=catalog)
    except (ValidationError, Conflict) as exc:
        session.rollback()
        return _form_page(request, me, session, values=values_from_form(form), row=None,
                          status_code=422 if isinstance(exc, ValidationError) else 409,
                          problems=problems_of(exc) if exc.details else
                          [{"field": "code", "message": exc.message}])
    return RedirectResponse(f"{PREFIX}/promotions/{row.id}?saved=1", status_code=303)


def _preview_outlet(session: Session, me: Principal, row: Promotion, wanted: str) -> str | None:
    """The outlet whose card to show: the one asked for, else the first reached in scope."""
    if wanted:
        return wanted
    reached = sorted(o.code for o in row.outlets if o.deleted_at is None and
                     me.can_touch_outlet(o.id, o.region_id))
    if reached:
        return reached[0]
    query = admin_outlets.scoped_outlets(me).with_only_columns(Outlet.code)
    if row.scope is PromotionScope.REGION:
        query = query.where(Outlet.region_id == row.region_id)
    elif row.scope is not PromotionScope.ALL:
        return None
    return session.scalar(query.order_by(Outlet.code).limit(1))


def _detail(request: Request, me: Principal, session: Session, settings: Settings,
            catalog: Catalog, row: Promotion, *, values: dict[str, Any] | None = None,
            status_code: int = 200, problems: list[dict[str, str]] | None = None) -> Response:
    code = _preview_outlet(session, me, row, request.query_params.get("outlet", ""))
    preview = None
    if code:
        try:
            preview = admin_preview.preview_promotion(
                session, principal=me, promotion_id=row.id, outlet_code=code,
                settings=settings, catalog=catalog)
        except NotFound:
            preview = None
    return _form_page(request, me, session, values=values or form_values(row), row=row,
                      status_code=status_code, problems=problems, preview=preview,
                      can_write=svc.writable(row, principal=me), actions=ACTIONS,
                      schedule=schedule_text(row),
                      saved=request.query_params.get("saved") == "1")


@router.get("/promotions/{promotion_id}", response_class=HTMLResponse)
def promotion_page(request: Request, promotion_id: RowId, me: ConsoleStaff,
                   session: ReadDbSession, settings: SettingsDep,
                   catalog: CatalogDep) -> Response:
    row = svc.get_promotion(session, principal=me, promotion_id=promotion_id)
    return _detail(request, me, session, settings, catalog, row)


def _stale(request: Request, session: Session, me: Principal, form: Any, promotion_id: int,
           mine: dict[str, str]) -> Response:
    session.rollback()
    row = svc.get_promotion(session, principal=me, promotion_id=promotion_id)
    now = summary(form_values(row)) | {"status": STATUS_TEXT[str(row.status)]}
    rows = [(LABELS.get(k, k), v, now.get(k, "")) for k, v in mine.items() if k != "code"]
    differ = [r for r in rows if r[1] != r[2]]  # where the two versions differ, if anywhere
    return stale_page(request, form, kind="优惠活动", version=row.version,
                      back=f"{PREFIX}/promotions/{promotion_id}", rows=differ or rows)


@router.post("/promotions/{promotion_id}", response_class=HTMLResponse)
def update_promotion(request: Request, promotion_id: RowId, me: ConsoleStaff,
                     session: DbSession, settings: SettingsDep, catalog: CatalogDep,
                     form: Posted, version: Version) -> Response:
    fields = fields_from_form(form)
    fields.pop("code")
    try:
        svc.update_promotion(session, principal=me, promotion_id=promotion_id,
                             promotion_in=model_from_form(PromotionUpdate, fields),
                             expected_version=version, catalog=catalog)
    except PreconditionFailed:
        return _stale(request, session, me, form, promotion_id,
                      summary(values_from_form(form)))
    except ValidationError as exc:
        session.rollback()
        row = svc.get_promotion(session, principal=me, promotion_id=promotion_id)
        return _detail(request, me, session, settings, catalog, row, status_code=422,
                       values=values_from_form(form) | {"code": row.code},
                       problems=problems_of(exc))
    return RedirectResponse(f"{PREFIX}/promotions/{promotion_id}?saved=1", status_code=303)


@router.post("/promotions/{promotion_id}/status", response_class=HTMLResponse)
def set_status(request: Request, promotion_id: RowId, me: ConsoleStaff, session: DbSession,
               settings: SettingsDep, catalog: CatalogDep, form: Posted,
               version: Version) -> Response:
    """Publish, withdraw to draft, archive, or reuse an archived one as a draft."""
    status = text(form, "status")
    try:
        svc.set_promotion_status(session, principal=me, promotion_id=promotion_id,
                                 status_in=model_from_form(PromotionStatusIn, {"status": status}),
                                 expected_version=version, catalog=catalog)
    except PreconditionFailed:
        return _stale(request, session, me, form, promotion_id,
                      {"status": STATUS_TEXT.get(status, status)})
    except ValidationError as exc:
        session.rollback()
        row = svc.get_promotion(session, principal=me, promotion_id=promotion_id)
        return _detail(request, me, session, settings, catalog, row, status_code=422,
                       problems=problems_of(exc))
    return RedirectResponse(f"{PREFIX}/promotions/{promotion_id}?saved=1", status_code=303)

