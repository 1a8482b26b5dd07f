"""Staff accounts: create them with a scope that fits their role, list them, switch them off."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet, Region
from o2o.errors import NotFound, ValidationError
from o2o.staff.models import Role, Staff
from o2o.staff.principal import Principal


def create_staff(session: Session, *, name: str, role: Role | str,
                 region_codes: Sequence[str] = (), outlet_codes: Sequence[str] = ()) -> Staff:
    """A new account in the caller's transaction. A manager needs regions, staff need
    outlets, an admin needs neither: a scope that does not fit the role is refused."""
    problems: list[dict[str, str]] = []
    name = name.strip()
    if not name or len(name) > 100:
        problems.append({"field": "name", "message": "a name of 1..100 characters is required"})
    try:
        role = Role(role)
    except ValueError:
        problems.append({"field": "role", "message": "role must be admin, manager or staff"})
        raise ValidationError(_sentence(problems), details=problems) from None
    if role is Role.MANAGER and not region_codes:
        problems.append({"field": "region", "message": "a manager needs at least one region"})
    if role is not Role.MANAGER and region_codes:
        problems.append({"field": "region", "message": f"a {role} has no regions"})
    if role is Role.STAFF and not outlet_codes:
        problems.append({"field": "outlet", "message": "staff need at least one outlet"})
    if role is not Role.STAFF and outlet_codes:
        problems.append({"field": "outlet", "message": f"a {role} is not assigned outlets"})
    regions = _by_code(session, Region, region_codes, "region", problems)
    outlets = _by_code(session, Outlet, outlet_codes, "outlet", problems)
    if problems:
        raise ValidationError(_sentence(problems), details=problems)
    staff = Staff(name=name, role=role, active=True, regions=regions, outlets=outlets)
    session.add(staff)
    session.flush()
    return staff


def _by_code(session: Session, model: type, codes: Sequence[str], field: str,
             problems: list[dict[str, str]]) -> list:
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    query = sa.select(model).where(model.code.in_(wanted))
    if model is Outlet:
        query = query.where(Outlet.deleted_at.is_(None))
    rows = {row.code: row for row in session.scalars(query)}
    for code in wanted:
        if code not in rows:
            problems.append({"field": field, "message": f"unknown {field} code {code!r}"})
    return [rows[c] for c in wanted if c in rows]


def _sentence(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']}: {p['message']}" for p in problems)


def get_staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff member #{staff_id}.")
    return staff


def list_staff(session: Session) -> list[Staff]:
    return list(session.scalars(sa.select(Staff).order_by(Staff.id)))


def deactivate_staff(session: Session, *, staff_id: int) -> Staff:
    """Switch an account off: every token stops working at once, the audit trail stays."""
    staff = get_staff(session, staff_id)
    staff.active = False
    session.flush()
    return staff


def scope_codes(session: Session, principal: Principal) -> tuple[list[str], list[str]]:
    """The caller's regions and outlets by code, for people to read."""
    regions = session.scalars(sa.select(Region.code).where(
        Region.id.in_(principal.region_ids)).order_by(Region.code)).all()
    outlets = session.scalars(sa.select(Outlet.code).where(
        Outlet.id.in_(principal.outlet_ids)).order_by(Outlet.code)).all()
    return list(regions), list(outlets)
