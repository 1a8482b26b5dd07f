"""Admin services for outlets: scoped list and read, create, partial update, status, soft delete.

Every write checks scope first (see o2o.staff.policy), validates everything before writing,
then changes the row, appends to the change feed and the audit log in one transaction, and
refreshes this worker's catalog after the commit. Changes to an existing outlet need the
version the caller read (If-Match): a stale one is refused (412), a missing one too (428).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import shapely
import sqlalchemy as sa
from shapely.geometry import Point, Polygon
from sqlalchemy.orm import Session

from o2o.audit.service import audit
from o2o.catalog.admin_common import (
    Problems,
    check_page,
    check_version,
    diff,
    one_in_scope,
    page_of,
    unit_of_work,
)
from o2o.catalog.changes import record_change
from o2o.catalog.hours import OpeningHours, parse_weekly
from o2o.catalog.models import Outlet, OutletStatus, Region
from o2o.catalog.schemas import OutletCreate, OutletStatusIn, OutletUpdate
from o2o.db.schema import utcnow
from o2o.errors import Conflict, ValidationError
from o2o.geo.datum import to_wgs84
from o2o.staff.models import Role
from o2o.staff.policy import (
    can_use_region,
    check_staff_fields,
    check_staff_status,
    require_role,
)
from o2o.staff.principal import Principal

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

SNAPSHOT_FIELDS = ("code", "name", "address", "city", "district", "phone", "lat", "lng",
                   "timezone", "region_id", "status", "reopen_on", "hours", "exceptions",
                   "tags", "image_url", "geofence_radius_m", "geofence_wkt", "deleted_at",
                   "version")


def outlet_snapshot(row: Outlet) -> dict[str, Any]:
    """The outlet's editable state, as the audit log keeps it."""
    return {f: getattr(row, f) for f in SNAPSHOT_FIELDS}


def scoped_outlets(principal: Principal) -> sa.Select:
    """Live (not deleted) outlets the caller may see."""
    query = sa.select(Outlet).where(Outlet.deleted_at.is_(None))
    if principal.role is Role.MANAGER:
        query = query.where(Outlet.region_id.in_(principal.region_ids))
    elif principal.role is Role.STAFF:
        query = query.where(Outlet.id.in_(principal.outlet_ids))
    return query


def list_outlets(session: Session, *, principal: Principal, region: str | None = None,
                 city: str | None = None, status: OutletStatus | str | None = None,
                 q: str | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[Outlet], int]:
    """One page of the caller's outlets by code, filtered; and how many match in all."""
    check_page(limit, offset)
    query = scoped_outlets(principal)
    if region is not None:
        query = query.join(Region, Outlet.region_id == Region.id).where(Region.code == region)
    if city:
        query = query.where(Outlet.city == city)
    if status is not None:
        query = query.where(Outlet.status == OutletStatus(status))
    if q and q.strip():
        text = q.strip().lower()
        query = query.where(sa.or_(*(sa.func.lower(col).contains(text, autoescape=True)
                                     for col in (Outlet.code, Outlet.name, Outlet.address))))
    return page_of(session, query, Outlet.code, limit=limit, offset=offset)


def get_outlet(session: Session, *, principal: Principal, outlet_id: int) -> Outlet:
    """One live outlet in scope; missing, deleted and out of scope all read the same."""
    return one_in_scope(session, scoped_outlets(principal).where(Outlet.id == outlet_id),
                        kind="outlet", key=outlet_id)


def _region(session: Session, principal: Principal, code: str | None,
            problems: Problems) -> Region | None:
    """The region named by code, if the caller may use it; unknown and out of scope alike."""
    if code is None:
        if not principal.is_admin:
            problems.add("region", "required: one of your regions")
        return None
    row = session.scalar(sa.select(Region).where(Region.code == code))
    if row is None or not row.active or not can_use_region(principal, row.id):
        problems.add("region", f"unknown region code {code!r}")
        return None
    return row


def _check_hours(problems: Problems, hours: dict[str, Any] | str | None,
                 exceptions: dict[str, Any], tz: str) -> dict[str, Any] | None:
    """Judge the hours; return them as stored (the compact text becomes the object form)."""
    if hours is None and not exceptions:
        return None
    try:
        OpeningHours.compile(hours, exceptions, tz)
    except ValidationError as exc:
        for item in exc.details or [{"field": "hours", "message": exc.message}]:
            problems.add(item["field"], item["message"])
        return None
    return parse_weekly(hours) if isinstance(hours, str) else hours


def _check_geofence(problems: Problems, wkt: str | None, lat: float, lng: float) -> None:
    if wkt is None:
        return
    try:
        shape = shapely.from_wkt(wkt)
    except shapely.errors.ShapelyError:
        problems.add("geofence_wkt", "not WKT (expected POLYGON((lng lat, ...)))")
        return
    if not isinstance(shape, Polygon) or not shape.is_valid or shape.is_empty:
        problems.add("geofence_wkt", "must be one valid, non-empty polygon")
    elif not shape.covers(Point(lng, lat)):
        problems.add("geofence_wkt", "must contain the outlet (WGS-84, lng lat order)")


def create_outlet(session: Session, *, principal: Principal, outlet_in: OutletCreate,
                  catalog: Catalog | None = None) -> Outlet:
    """A new outlet in the caller's scope (admin anywhere, a manager in their regions)."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="create outlets")
    problems = Problems()
    region = _region(session, principal, outlet_in.region, problems)
    lat, lng = to_wgs84(outlet_in.lat, outlet_in.lng, outlet_in.crs)
    hours = _check_hours(problems, outlet_in.hours, outlet_in.exceptions, outlet_in.timezone)
    _check_geofence(problems, outlet_in.geofence_wkt, lat, lng)
    problems.raise_if_any()
    if session.scalar(sa.select(Outlet.id).where(Outlet.code == outlet_in.code)) is not None:
        raise Conflict(f"Outlet code {outlet_in.code!r} is already in use.",
                       code="duplicate_code",
                       details=[{"field": "code", "message": "already in use"}])
    data = {**outlet_in.model_dump(exclude={"lat", "lng", "crs", "region"}), "hours": hours}
    row = Outlet(**data, region_id=region.id if region else None, status=OutletStatus.OPEN)
    row.set_position(lat, lng)
    with unit_of_work(session, kind="outlet", catalog=catalog):
        session.add(row)
        session.flush()
        record_change(session, "outlet", row.id)
        audit(session, principal=principal, action="create", entity_type="outlet", entity=row,
              before=None, after=outlet_snapshot(row))
    return row


def update_outlet(session: Session, *, principal: Principal, outlet_id: int,
                  outlet_in: OutletUpdate, expected_version: int | None,
                  catalog: Catalog | None = None) -> Outlet:
    """Change the fields sent, nothing else; staff only the fields the policy allows them."""
    row = get_outlet(session, principal=principal, outlet_id=outlet_id)
    changes = outlet_in.changes()
    check_staff_fields(principal, changes.keys())
    check_version(row, expected_version, "outlet")
    if not changes:
        return row  # nothing sent: no new version, no audit entry
    problems = Problems()
    before = outlet_snapshot(row)
    region_id = row.region_id
    if "region" in changes:
        region = _region(session, principal, changes.pop("region"), problems)
        region_id = region.id if region else None
    lat, lng = row.lat, row.lng
    if {"lat", "lng", "crs"} & changes.keys():
        if not {"lat", "lng", "crs"} <= changes.keys():
            problems.add("crs", "a new position needs lat, lng and crs together")
        else:
            lat, lng = to_wgs84(changes.pop("lat"), changes.pop("lng"), changes.pop("crs"))
    hours = changes.get("hours", row.hours)
    exceptions = changes.get("exceptions", row.exceptions or {})
    tz = changes.get("timezone", row.timezone)
    if {"hours", "exceptions", "timezone"} & changes.keys():
        checked = _check_hours(problems, hours, exceptions, tz)
        if "hours" in changes:
            changes["hours"] = checked
    if "geofence_wkt" in changes or (lat, lng) != (row.lat, row.lng):
        _check_geofence(problems, changes.get("geofence_wkt", row.geofence_wkt), lat, lng)
    problems.raise_if_any()
    with unit_of_work(session, kind="outlet", catalog=catalog):
        for field, value in changes.items():
            setattr(row, field, value)
        row.region_id = region_id
        if (lat, lng) != (row.lat, row.lng):
            row.set_position(lat, lng)
        row.updated_at = utcnow()
        session.flush()
        old, new = diff(before, outlet_snapshot(row))
        record_change(session, "outlet", row.id)
        audit(session, principal=principal, action="update", entity_type="outlet", entity=row,
              before=old, after=new, region_id=row.region_id or before["region_id"])
    return row


def set_outlet_status(session: Session, *, principal: Principal, outlet_id: int,
                      status_in: OutletStatusIn, expected_version: int | None,
                      catalog: Catalog | None = None, today: date | None = None) -> Outlet:
    """Open, temporarily close until a date (today or later, in the outlet's zone), or close."""
    row = get_outlet(session, principal=principal, outlet_id=outlet_id)
    check_staff_status(principal, status_in.status)
    check_version(row, expected_version, "outlet")
    problems = Problems()
    local_today = today or datetime.now(ZoneInfo(row.timezone)).date()
    if status_in.status is OutletStatus.TEMPORARILY_CLOSED:
        if status_in.reopen_on is None:
            problems.add("reopen_on", "a temporary closure needs a reopening date")
        elif status_in.reopen_on <= local_today:
            problems.add("reopen_on", f"must be after today ({local_today.isoformat()})")
    elif status_in.reopen_on is not None:
        problems.add("reopen_on", "only a temporary closure has a reopening date")
    problems.raise_if_any()
    before = outlet_snapshot(row)
    with unit_of_work(session, kind="outlet", catalog=catalog):
        row.status, row.reopen_on = status_in.status, status_in.reopen_on
        row.updated_at = utcnow()
        session.flush()
        old, new = diff(before, outlet_snapshot(row))
        record_change(session, "outlet", row.id)
        audit(session, principal=principal, action="set_status", entity_type="outlet",
              entity=row, before=old, after=new)
    return row


def delete_outlet(session: Session, *, principal: Principal, outlet_id: int,
                  expected_version: int | None, catalog: Catalog | None = None) -> None:
    """Soft delete: gone from customers, lists and scopes at once; history and events keep it."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="delete outlets")
    row = get_outlet(session, principal=principal, outlet_id=outlet_id)
    check_version(row, expected_version, "outlet")
    before = outlet_snapshot(row)
    with unit_of_work(session, kind="outlet", catalog=catalog):
        row.deleted_at = row.updated_at = utcnow()
        session.flush()
        record_change(session, "outlet", row.id)
        audit(session, principal=principal, action="delete", entity_type="outlet", entity=row,
              before=before, after={"deleted_at": row.deleted_at, "version": row.version})
