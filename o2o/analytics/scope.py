"""Who may see which numbers, and which date ranges make sense: checked before any query.

A scope is `None` (admin: everything) or the set of region ids a manager holds. Asking for
a region or outlet outside it is NotFound (its numbers do not exist for this caller); an
empty scope is PermissionDenied.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet, Region
from o2o.errors import NotFound, PermissionDenied, ValidationError

Scope = frozenset[int] | None
#: Longest range one request may ask for (a little over a year: year-on-year views).
MAX_RANGE_DAYS = 400


def check_range(date_from: date, date_to: date) -> None:
    """Reject an inverted or over-long range with a sentence and field details."""
    if date_to < date_from:
        raise ValidationError("'to' must not be before 'from'",
                              details=[{"field": "to", "message": "must be on or after from"}])
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ValidationError(f"a range may span at most {MAX_RANGE_DAYS} days",
                              details=[{"field": "from", "message": "range too long"}])


def check_scope(scope: Scope) -> None:
    if scope is not None and not scope:
        raise PermissionDenied("Your account has no regions to report on.")


def regions_in_view(session: Session, *, scope: Scope, region_id: int | None) -> Scope:
    """The regions a query covers: the asked one if visible, else the whole scope."""
    check_scope(scope)
    if region_id is None:
        return scope
    if (scope is not None and region_id not in scope) or session.get(Region, region_id) is None:
        raise NotFound(f"Region {region_id} not found.")
    return frozenset({region_id})


def outlet_in_view(session: Session, *, scope: Scope, outlet_id: int) -> Outlet:
    """The outlet if the caller may see it (its current region is in scope)."""
    check_scope(scope)
    outlet = session.get(Outlet, outlet_id)
    if outlet is None or (scope is not None and outlet.region_id not in scope):
        raise NotFound(f"Outlet {outlet_id} not found.")
    return outlet


def region_labels(session: Session, regions: Scope) -> dict[int, str]:
    stmt = sa.select(Region.id, Region.name).order_by(Region.id)
    if regions is not None:
        stmt = stmt.where(Region.id.in_(regions))
    return dict(session.execute(stmt).all())


def outlet_labels(session: Session, regions: Scope, outlet_id: int | None = None,
                  *, include_deleted: bool = False) -> dict[int, str]:
    """Outlet id → "name (code)" for the outlets in view."""
    stmt = sa.select(Outlet.id, Outlet.name, Outlet.code).order_by(Outlet.id)
    if regions is not None:
        stmt = stmt.where(Outlet.region_id.in_(regions))
    if outlet_id is not None:
        stmt = stmt.where(Outlet.id == outlet_id)
    if not include_deleted:
        stmt = stmt.where(Outlet.deleted_at.is_(None))
    return {oid: f"{name} ({code})" for oid, name, code in session.execute(stmt)}
