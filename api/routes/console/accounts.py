"""Accounts (账号), for admins and managers: list, create, switch off and on, and a one-time
sign-in link shown as a URL and a QR code to scan from the new colleague's phone.

Everything goes through o2o.staff.service and o2o.staff.credentials, as the API does: the same
scope (a manager sees and makes store staff of their regions only), messages, audit entries
(marked "console"), and version checks.
"""

from __future__ import annotations

from typing import Any

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import DbSession, ReadDbSession, SettingsDep
from api.routes.console.auth import ConsoleStaff, console_router
from api.routes.console.forms import (
    Posted,
    model_from_form,
    problems_of,
    stale_page,
    text,
    texts,
)
from api.routes.console.outlets import Version
from api.routes.console.page import PREFIX, render
from o2o.catalog import admin_outlets
from o2o.catalog.admin_regions import list_regions
from o2o.errors import PreconditionFailed, ValidationError
from o2o.staff import credentials
from o2o.staff import service as svc
from o2o.staff.models import Role, Staff
from o2o.staff.principal import Principal
from o2o.staff.schemas import StaffCreate

router = console_router()
ROLE_TEXT = {"admin": "管理员", "manager": "区域经理", "staff": "店员"}
LABELS = {"name": "姓名", "role": "角色", "region": "区域", "regions": "区域",
          "outlet": "门店", "outlets": "门店", "active": "状态"}
#: Up to this many outlets in scope are offered as checkboxes; more, as a field of codes.
CHECKBOX_OUTLETS = 50


def _choices(session: Session, me: Principal) -> dict[str, Any]:
    """What the create form offers: roles, regions (admins) and outlets the caller may give."""
    outlets, total = admin_outlets.list_outlets(session, principal=me, limit=CHECKBOX_OUTLETS)
    regions = list_regions(session, principal=me, active=True, limit=200)[0] \
        if me.is_admin else []
    roles = ["staff"] if me.role is Role.MANAGER else ["staff", "manager", "admin"]
    return {"roles": roles, "regions": regions,
            "outlets": outlets if total <= CHECKBOX_OUTLETS else None}


def _list_page(request: Request, me: Principal, session: Session, *, status_code: int = 200,
               problems: list[dict[str, str]] | None = None,
               values: dict[str, Any] | None = None) -> HTMLResponse:
    rows, total = svc.list_accounts(session, principal=me, limit=200)
    return render(request, "staff/accounts.html", status_code=status_code, rows=rows,
                  total=total, role_text=ROLE_TEXT, problems=problems or [], labels=LABELS,
                  v=values or {"role": "staff", "regions": [], "outlets": []},
                  **_choices(session, me))


@router.get("/accounts", response_class=HTMLResponse)
def account_list(request: Request, me: ConsoleStaff, session: ReadDbSession) -> Response:
    return _list_page(request, me, session)


@router.post("/accounts", response_class=HTMLResponse)
def create_account(request: Request, me: ConsoleStaff, session: DbSession,
                   form: Posted) -> Response:
    outlets = texts(form, "outlets") + [c.strip() for c in text(form, "outlet_codes")
                                        .replace("，", ",").split(",") if c.strip()]
    values = {"name": text(form, "name"), "role": text(form, "role") or "staff",
              "regions": texts(form, "regions"), "outlets": list(dict.fromkeys(outlets))}
    try:
        staff_in = model_from_form(StaffCreate, values)
        row = svc.create_staff(session, principal=me, name=staff_in.name, role=staff_in.role,
                               region_codes=staff_in.regions, outlet_codes=staff_in.outlets)
    except ValidationError as exc:
        session.rollback()
        return _list_page(request, me, session, status_code=422, problems=problems_of(exc),
                          values=values)
    return RedirectResponse(f"{PREFIX}/accounts/{row.id}?created=1", status_code=303)


def _account_page(request: Request, row: Staff, *, status_code: int = 200,
                  link: dict[str, Any] | None = None,
                  problems: list[dict[str, str]] | None = None) -> HTMLResponse:
    return render(request, "staff/account.html", status_code=status_code, a=row,
                  role_text=ROLE_TEXT, link=link, problems=problems or [], labels=LABELS,
                  created=request.query_params.get("created") == "1",
                  saved=request.query_params.get("saved") == "1")


@router.get("/accounts/{staff_id}", response_class=HTMLResponse)
def account_page(request: Request, staff_id: int, me: ConsoleStaff,
                 session: ReadDbSession) -> Response:
    return _account_page(request, svc.get_account(session, principal=me, staff_id=staff_id))


@router.post("/accounts/{staff_id}/active", response_class=HTMLResponse)
def set_active(request: Request, staff_id: int, me: ConsoleStaff, session: DbSession,
               form: Posted, version: Version) -> Response:
    """停用 / 重新启用: a switched-off account's tokens, links and sessions stop at once."""
    active = text(form, "active") == "1"
    path = f"{PREFIX}/accounts/{staff_id}"
    try:
        svc.update_staff(session, principal=me, staff_id=staff_id,
                         changes={"active": active}, expected_version=version)
    except PreconditionFailed:
        session.rollback()
        row = svc.get_account(session, principal=me, staff_id=staff_id)
        state = {True: "启用", False: "停用"}
        return stale_page(request, form, kind="账号", version=row.version, back=path,
                          rows=[(LABELS["active"], state[active], state[row.active])])
    except ValidationError as exc:
        session.rollback()
        row = svc.get_account(session, principal=me, staff_id=staff_id)
        return _account_page(request, row, status_code=422, problems=problems_of(exc))
    return RedirectResponse(f"{path}?saved=1", status_code=303)


@router.post("/accounts/{staff_id}/login-link", response_class=HTMLResponse)
def issue_login_link(request: Request, staff_id: int, me: ConsoleStaff, session: DbSession,
                     settings: SettingsDep) -> Response:
    """A one-time sign-in link, shown once: its URL and a QR code of it (no script needed)."""
    try:
        issued, url = credentials.issue_login_link_for(
            session, principal=me, staff_id=staff_id, ttl_min=settings.login_link_ttl_min,
            base_url=settings.public_base_url)
    except ValidationError as exc:
        session.rollback()
        row = svc.get_account(session, principal=me, staff_id=staff_id)
        return _account_page(request, row, status_code=422, problems=problems_of(exc))
    row = svc.get_account(session, principal=me, staff_id=staff_id)
    qr = segno.make(url, error="m").svg_data_uri(scale=5, border=2)
    return _account_page(request, row, link={"url": url, "qr": qr,
                                             "expires_at": issued.expires_at})
