"""Admin services for regions: scoped list and read, create, edit, (de)activate, and putting
the outlets inside a boundary into the region in one call.

Admins do everything; a manager lists and reads their own regions; store staff get 403.
Writes follow the outlet services: validate everything first, then change, feed and audit in
one transaction; edits need the version read (If-Match). A deactivated region keeps its
outlets, staff and history, but takes no new ones (see `usable_region`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shapely
import sqlalchemy as sa
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
from o2o.catalog.boundary import covered, from_column, parse_boundary, to_column
from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Region
from o2o.catalog.region_schemas import AssignOutletsResult, RegionCreate, RegionUpdate
from o2o.db.schema import utcnow
from o2o.errors import Conflict, ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import require_role
from o2o.staff.principal import Principal

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

#: Fields outlet views carry (region code and name): changing one reloads the live catalog.
_SHOWN_TO_CUSTOMERS = ("code", "name")


def region_snapshot(row: Region) -> dict[str, Any]:
    """The region as the audit log keeps it (boundary as WKT, 7 decimals = about 1 cm)."""
    shape = from_column(row.boundary)
    return {"code": row.code, "name": row.name, "timezone": row.timezone, "active": row.active,
            "boundary": None if shape is None else shapely.to_wkt(shape, rounding_precision=7),
            "version": row.version}


def scoped_regions(principal: Principal) -> sa.Select:
    """Regions the caller may see: all for an admin, their own for a manager."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="list regions")
    query = sa.select(Region)
    if not principal.is_admin:
        query = query.where(Region.id.in_(principal.region_ids))
    return query


def list_regions(session: Session, *, principal: Principal, active: bool | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[Region], int]:
    check_page(limit, offset)
    query = scoped_regions(principal)
    if active is not None:
        query = query.where(Region.active.is_(active))
    return page_of(session, query, Region.code, limit=limit, offset=offset)


def get_region(session: Session, *, principal: Principal, region_id: int) -> Region:
    """One region in scope; missing and out of scope read the same (404)."""
    return one_in_scope(session, scoped_regions(principal).where(Region.id == region_id),
                        kind="region", key=region_id)


def usable_region(session: Session, code: str) -> Region | None:
    """The active region of this code, or None (unknown and deactivated alike)."""
    return session.scalar(sa.select(Region).where(Region.code == code, Region.active.is_(True)))


def _boundary(problems: Problems, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return to_column(parse_boundary(value))
    except ValidationError as exc:
        for item in exc.details:
            problems.add(item["field"], item["message"])
        return None


def _code_free(session: Session, code: str, region_id: int | None = None) -> None:
    taken = session.scalar(sa.select(Region.id).where(Region.code == code))
    if taken is not None and taken != region_id:
        raise Conflict(f"Region code {code!r} is already in use.", code="duplicate_code",
                       details=[{"field": "code", "message": "already in use"}])


def create_region(session: Session, *, principal: Principal, region_in: RegionCreate,
                  catalog: Catalog | None = None) -> Region:
    """A new, active region (admins only)."""
    require_role(principal, Role.ADMIN, doing="create regions")
    problems = Problems()
    boundary = _boundary(problems, region_in.boundary)
    problems.raise_if_any()
    _code_free(session, region_in.code)
    row = Region(code=region_in.code, name=region_in.name, timezone=region_in.timezone,
                 boundary=boundary, active=True)
    with unit_of_work(session, kind="region", catalog=catalog):
        session.add(row)
        session.flush()
        record_change(session, "region", row.id)
        audit(session, principal=principal, action="create", entity_type="region", entity=row,
              before=None, after=region_snapshot(row), region_id=row.id)
    return row


def update_region(session: Session, *, principal: Principal, region_id: int,
                  region_in: RegionUpdate, expected_version: int | None,
                  catalog: Catalog | None = None) -> Region:
    """Change what was sent (admins only); `active` false deactivates, true reactivates."""
    require_role(principal, Role.ADMIN, doing="change regions")
    row = get_region(session, principal=principal, region_id=region_id)
    check_version(row, expected_version, "region")
    changes = region_in.changes()
    if not changes:
        return row
    problems = Problems()
    if "boundary" in changes:
        changes["boundary"] = _boundary(problems, changes["boundary"])
    problems.raise_if_any()
    if "code" in changes:
        _code_free(session, changes["code"], row.id)
    before = region_snapshot(row)
    with unit_of_work(session, kind="region", catalog=catalog):
        for field, value in changes.items():
            setattr(row, field, value)
        row.updated_at = utcnow()
        session.flush()
        old, new = diff(before, region_snapshot(row))
        if any(f in new for f in _SHOWN_TO_CUSTOMERS):
            record_change(session, "region", row.id)
        action = "update"
        if set(new) - {"version"} == {"active"}:
            action = "activate" if row.active else "deactivate"
        audit(session, principal=principal, action=action, entity_type="region", entity=row,
              before=old, after=new, region_id=row.id)
    return row


def outlets_inside(session: Session, region: Region) -> list[tuple[int, int | None]]:
    """(id, region_id) of live outlets inside or on the region's boundary, by id."""
    shape = from_column(region.boundary)
    if shape is None:
        return []
    west, south, east, north = shape.bounds
    rows = session.execute(sa.select(Outlet.id, Outlet.region_id, Outlet.lng, Outlet.lat).where(
        Outlet.deleted_at.is_(None), Outlet.lat.between(south, north),
        Outlet.lng.between(west, east)).order_by(Outlet.id)).all()
    if not rows:
        return []
    inside = covered(shape, [r.lng for r in rows], [r.lat for r in rows])
    return [(r.id, r.region_id) for r, hit in zip(rows, inside, strict=True) if hit]


def assign_outlets(session: Session, *, principal: Principal, region_id: int,
                   only_unassigned: bool = False, dry_run: bool = False,
                   catalog: Catalog | None = None) -> AssignOutletsResult:
    """Put every live outlet inside the boundary into this region (admins only); with
    `only_unassigned`, outlets already in another region stay there."""
    require_role(principal, Role.ADMIN, doing="assign outlets to regions")
    region = get_region(session, principal=principal, region_id=region_id)
    if region.boundary is None:
        Problems.raise_one("boundary", f"region {region.code} has no boundary to assign by")
    if not region.active:
        Problems.raise_one("active", f"region {region.code} is deactivated")
    inside = outlets_inside(session, region)
    already = [oid for oid, rid in inside if rid == region.id]
    skipped = [oid for oid, rid in inside if rid is not None and rid != region.id] \
        if only_unassigned else []
    moving = sorted(set(oid for oid, _ in inside) - set(already) - set(skipped))
    result = AssignOutletsResult(region=region.code, inside=len(inside), assigned=len(moving),
                                 already=len(already), skipped=len(skipped), dry_run=dry_run)
    if dry_run or not moving:
        return result
    with unit_of_work(session, kind="outlet", catalog=catalog):
        now = utcnow()
        for start in range(0, len(moving), 500):
            part = moving[start:start + 500]
            for outlet in session.scalars(sa.select(Outlet).where(Outlet.id.in_(part))):
                before = {"region_id": outlet.region_id, "version": outlet.version}
                outlet.region_id, outlet.updated_at = region.id, now
                session.flush()
                record_change(session, "outlet", outlet.id)
                audit(session, principal=principal, action="assign_region",
                      entity_type="outlet", entity=outlet, before=before,
                      after={"region_id": region.id, "version": outlet.version})
        audit(session, principal=principal, action="assign_outlets", entity_type="region",
              entity=region, before=None, region_id=region.id,
              after={"inside": result.inside, "assigned": result.assigned,
                     "already": result.already, "skipped": result.skipped})
    return result
