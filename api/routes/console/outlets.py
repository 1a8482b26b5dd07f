"""My outlets: status, weekly hours, one-tap dated exceptions, phone and image.

Every change goes through o2o.catalog.admin_outlets, as the admin API's do: the same scope
checks (another store's outlet is "not found"), validation messages, audit entry (marked
"console" by the route class), version check and change feed, so customers see it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import CatalogDep, DbSession, ReadDbSession
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
from o2o.catalog import admin_outlets as svc
from o2o.catalog.day_exceptions import close_early, drop_exception, special_hours
from o2o.catalog.hours import format_compact, parse_weekly, today_text
from o2o.catalog.models import Outlet
from o2o.catalog.schemas import OutletStatusIn, OutletUpdate
from o2o.db.schema import utcnow
from o2o.errors import PreconditionFailed, ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import STAFF_OUTLET_STATUSES
from o2o.staff.principal import Principal

router = console_router()
STATUS_TEXT = {"open": "营业中", "temporarily_closed": "暂停营业", "closed": "已关店"}
LABELS = {"status": "状态", "reopen_on": "恢复营业日期", "hours": "每周营业时间",
          "exceptions": "特殊日期", "phone": "电话", "image_url": "门店图片"}


def hours_text(weekly: Mapping[str, Any] | None) -> str:
    return format_compact(weekly) if weekly else ""


def exceptions_text(exceptions: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(date, "07:00-20:30" or "休息") per dated exception, in date order."""
    return [(day, ", ".join(f"{a}-{b}" for a, b in spans) or "休息")
            for day, spans in sorted((exceptions or {}).items())]


def local_today(row: Outlet) -> date:
    return datetime.now(ZoneInfo(row.timezone)).date()


def shown(row: Outlet) -> dict[str, str]:
    """The outlet's editable state as the forms and the stale page show it."""
    return {"status": STATUS_TEXT.get(str(row.status), str(row.status)),
            "reopen_on": row.reopen_on.isoformat() if row.reopen_on else "",
            "hours": hours_text(row.hours),
            "exceptions": "; ".join(f"{d} {t}" for d, t in exceptions_text(row.exceptions)),
            "phone": row.phone, "image_url": row.image_url}


def statuses_for(me: Principal) -> list[str]:
    allowed = STAFF_OUTLET_STATUSES if me.role is Role.STAFF else set(STATUS_TEXT)
    return [s for s in STATUS_TEXT if s in allowed]


@router.get("/outlets", response_class=HTMLResponse)
def outlet_list(request: Request, me: ConsoleStaff, session: ReadDbSession) -> Response:
    rows, total = svc.list_outlets(session, principal=me, limit=200)
    now = utcnow()
    items = [(row, today_text(row.hours or {}, row.exceptions, row.timezone, now))
             for row in rows]
    return render(request, "staff/outlets.html", items=items, total=total,
                  status_text=STATUS_TEXT)


def _page(request: Request, me: Principal, row: Outlet, *, status_code: int = 200,
          problems: list[dict[str, str]] | None = None,
          values: Mapping[str, str] | None = None) -> HTMLResponse:
    current = shown(row)
    return render(request, "staff/outlet.html", status_code=status_code, o=row,
                  v={**current, **(values or {})}, problems=problems or [],
                  labels=LABELS, status_text=STATUS_TEXT, statuses=statuses_for(me),
                  today=local_today(row).isoformat(), exceptions=exceptions_text(row.exceptions),
                  today_text=today_text(row.hours or {}, row.exceptions, row.timezone, utcnow()),
                  saved=request.query_params.get("saved") == "1")


@router.get("/outlets/{outlet_id}", response_class=HTMLResponse)
def outlet_page(request: Request, outlet_id: RowId, me: ConsoleStaff,
                session: ReadDbSession) -> Response:
    return _page(request, me, svc.get_outlet(session, principal=me, outlet_id=outlet_id))


def _save(request: Request, session: Session, me: Principal, outlet_id: int, *,
          form: FormData, mine: dict[str, str], work: Callable[[Outlet], object]) -> Response:
    """Run one change on the outlet (read in scope first); a stale version shows both
    versions, a refused value shows the page again with the message, nothing written."""
    row = svc.get_outlet(session, principal=me, outlet_id=outlet_id)
    path = f"{PREFIX}/outlets/{outlet_id}"
    try:
        work(row)
    except PreconditionFailed:
        session.rollback()
        row = svc.get_outlet(session, principal=me, outlet_id=outlet_id)
        now = shown(row)
        return stale_page(request, form, kind="门店", version=row.version, back=path,
                          rows=[(LABELS[k], v, now[k]) for k, v in mine.items()])
    except ValidationError as exc:
        session.rollback()
        row = svc.get_outlet(session, principal=me, outlet_id=outlet_id)
        return _page(request, me, row, status_code=422, problems=problems_of(exc), values=mine)
    return RedirectResponse(f"{path}?saved=1", status_code=303)


@router.post("/outlets/{outlet_id}/details", response_class=HTMLResponse)
def save_details(request: Request, outlet_id: RowId, me: ConsoleStaff, session: DbSession,
                 catalog: CatalogDep, form: Posted, version: Version) -> Response:
    """Weekly hours (compact syntax), phone, image: only what changed is sent."""
    mine = {k: text(form, k) for k in ("hours", "phone", "image_url")}

    def work(row: Outlet) -> None:
        current = shown(row)
        changes: dict[str, Any] = {k: v for k, v in mine.items()
                                   if k != "hours" and v != current[k]}
        if mine["hours"] != current["hours"]:
            changes["hours"] = parse_weekly(mine["hours"]) if mine["hours"] else None
        svc.update_outlet(session, principal=me, outlet_id=outlet_id,
                          outlet_in=model_from_form(OutletUpdate, changes),
                          expected_version=version, catalog=catalog)

    return _save(request, session, me, outlet_id, form=form, mine=mine, work=work)


@router.post("/outlets/{outlet_id}/status", response_class=HTMLResponse)
def save_status(request: Request, outlet_id: RowId, me: ConsoleStaff, session: DbSession,
                catalog: CatalogDep, form: Posted, version: Version) -> Response:
    """Open, temporarily closed until a date, or (managers) closed for good."""
    status = text(form, "status")
    reopen = text(form, "reopen_on") if status == "temporarily_closed" else ""
    mine = {"status": STATUS_TEXT.get(status, status), "reopen_on": reopen}

    def work(row: Outlet) -> None:
        status_in = model_from_form(OutletStatusIn, {"status": status,
                                                     "reopen_on": reopen or None})
        svc.set_outlet_status(session, principal=me, outlet_id=outlet_id, status_in=status_in,
                              expected_version=version, catalog=catalog)

    return _save(request, session, me, outlet_id, form=form, mine=mine, work=work)


def _exceptions_change(request: Request, outlet_id: int, me: Principal, session: Session,
                       catalog: Any, form: FormData, version: int, what: str,
                       new: Callable[[Outlet], dict[str, Any]]) -> Response:
    def work(row: Outlet) -> None:
        svc.update_outlet(session, principal=me, outlet_id=outlet_id,
                          outlet_in=OutletUpdate(exceptions=new(row)),
                          expected_version=version, catalog=catalog)

    return _save(request, session, me, outlet_id, form=form, mine={"exceptions": what},
                 work=work)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{field}: a date like 2026-10-01 is required",
                              details=[{"field": field, "message": "a date like 2026-10-01 "
                                                                   "is required"}]) from None


@router.post("/outlets/{outlet_id}/close-early", response_class=HTMLResponse)
def save_close_early(request: Request, outlet_id: RowId, me: ConsoleStaff, session: DbSession,
                     catalog: CatalogDep, form: Posted, version: Version) -> Response:
    """今天提前打烊: today's hours end at the chosen time (today in the outlet's zone)."""
    at = text(form, "close_at")
    return _exceptions_change(
        request, outlet_id, me, session, catalog, form, version, f"今天 {at} 提前打烊",
        lambda row: close_early(row.hours, row.exceptions, local_today(row), at))


@router.post("/outlets/{outlet_id}/special", response_class=HTMLResponse)
def save_special(request: Request, outlet_id: RowId, me: ConsoleStaff, session: DbSession,
                 catalog: CatalogDep, form: Posted, version: Version) -> Response:
    """特殊营业时间: a date's own hours ("10:00-18:00", or 休息)."""
    day, hours = text(form, "day"), text(form, "special_hours")
    return _exceptions_change(
        request, outlet_id, me, session, catalog, form, version, f"{day} {hours or '休息'}",
        lambda row: special_hours(row.exceptions, _day(day, "day"), hours))


@router.post("/outlets/{outlet_id}/exceptions/remove", response_class=HTMLResponse)
def remove_exception(request: Request, outlet_id: RowId, me: ConsoleStaff, session: DbSession,
                     catalog: CatalogDep, form: Posted, version: Version) -> Response:
    day = text(form, "day")
    return _exceptions_change(
        request, outlet_id, me, session, catalog, form, version, f"删除 {day}",
        lambda row: drop_exception(row.exceptions, _day(day, "day")))

