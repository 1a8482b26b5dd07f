"""Staff accounts: create them with a scope that fits their role, edit, reassign, switch off.

Who may manage whom: an admin everyone; a manager the store staff of their regions (an
account of role staff whose live outlets all lie in the manager's regions), and only within
them; store staff nobody (they see themselves at /api/v1/me). As everywhere, an account out
of scope reads exactly like a missing one (404). The CLI runs these as the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

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
from o2o.catalog.models import Outlet, Region
from o2o.errors import Conflict, NotFound, PermissionDenied
from o2o.staff.models import Role, Staff, staff_outlets
from o2o.staff.policy import require_role
from o2o.staff.principal import OPERATOR, Principal


def staff_snapshot(row: Staff) -> dict[str, Any]:
    """The account as the audit log keeps it."""
    return {"name": row.name, "role": row.role, "active": row.active,
            "regions": sorted(r.code for r in row.regions),
            "outlets": sorted(o.code for o in row.outlets), "version": row.version}


def home_region(row: Staff) -> int | None:
    """The region an entry about this account is filed under (managers read by region)."""
    ids = [r.id for r in row.regions] or [o.region_id for o in row.outlets if o.region_id]
    return min(ids) if ids else None


def scoped_staff(principal: Principal) -> sa.Select:
    """Accounts the caller may manage."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="manage staff accounts")
    query = sa.select(Staff)
    if principal.is_admin:
        return query
    live = sa.select(staff_outlets.c.staff_id).join(
        Outlet, Outlet.id == staff_outlets.c.outlet_id).where(Outlet.deleted_at.is_(None))
    outside = live.where(sa.or_(Outlet.region_id.is_(None),
                                Outlet.region_id.not_in(principal.region_ids)))
    return query.where(Staff.role == Role.STAFF, Staff.id.in_(live), Staff.id.not_in(outside))


def list_accounts(session: Session, *, principal: Principal, active: bool | None = None,
                  q: str | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[Staff], int]:
    check_page(limit, offset)
    query = scoped_staff(principal)
    if active is not None:
        query = query.where(Staff.active.is_(active))
    if q and q.strip():
        query = query.where(sa.func.lower(Staff.name).contains(q.strip().lower(),
                                                                autoescape=True))
    return page_of(session, query, Staff.id, limit=limit, offset=offset)


def get_account(session: Session, *, principal: Principal, staff_id: int) -> Staff:
    return one_in_scope(session, scoped_staff(principal).where(Staff.id == staff_id),
                        kind="staff member", key=staff_id)


def _by_code(session: Session, model: type, codes: Sequence[str], field: str,
             problems: Problems, usable: Any) -> list:
    """Rows for these codes; an unknown one, or one the caller may not use, is the same
    problem ("unknown ... code"), so nobody learns another store's codes."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    rows = {row.code: row for row in session.scalars(sa.select(model).where(
        model.code.in_(wanted)))}
    found = []
    for code in wanted:
        row = rows.get(code)
        if row is None or not usable(row):
            problems.add(field, f"unknown {field} code {code!r}")
        else:
            found.append(row)
    return found


def _scope(session: Session, principal: Principal, role: Role, region_codes: Sequence[str],
           outlet_codes: Sequence[str], problems: Problems) -> tuple[list[Region], list[Outlet]]:
    """Regions and outlets for an account of `role`, checked against the role and against
    what the caller may hand out (a manager: outlets of their regions, no regions)."""
    if role is Role.MANAGER and not region_codes:
        problems.add("region", "a manager needs at least one region")
    if role is not Role.MANAGER and region_codes:
        problems.add("region", f"a {role} has no regions")
    if role is Role.STAFF and not outlet_codes:
        problems.add("outlet", "staff need at least one outlet")
    if role is not Role.STAFF and outlet_codes:
        problems.add("outlet", f"a {role} is not assigned outlets")
    regions = _by_code(session, Region, region_codes, "region", problems,
                       lambda r: r.active and principal.is_admin)
    outlets = _by_code(session, Outlet, outlet_codes, "outlet", problems,
                       lambda o: o.deleted_at is None and principal.can_touch_outlet(
                           o.id, o.region_id))
    return regions, outlets


def _check_manager_hands_out(principal: Principal, role: Role) -> None:
    if principal.role is Role.MANAGER and role is not Role.STAFF:
        raise PermissionDenied("A manager may create and change store staff accounts only; "
                               "ask an admin for managers and admins.")


def create_staff(session: Session, *, name: str, role: Role | str,
                 region_codes: Sequence[str] = (), outlet_codes: Sequence[str] = (),
                 principal: Principal = OPERATOR) -> Staff:
    """A new, active account, committed and audited. A manager needs regions, staff need
    outlets, an admin neither: a scope that does not fit the role is refused (422)."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="create staff accounts")
    problems = Problems()
    name = name.strip()
    if not name or len(name) > 100:
        problems.add("name", "a name of 1..100 characters is required")
    if str(role) not in {r.value for r in Role}:
        problems.add("role", "role must be admin, manager or staff")
        problems.raise_if_any()
    role = Role(role)
    _check_manager_hands_out(principal, role)
    regions, outlets = _scope(session, principal, role, region_codes, outlet_codes, problems)
    problems.raise_if_any()
    staff = Staff(name=name, role=role, active=True, regions=regions, outlets=outlets)
    with unit_of_work(session, kind="staff account", catalog=None):
        session.add(staff)
        session.flush()
        audit(session, principal=principal, action="create", entity_type="staff",
              entity=staff, before=None, after=staff_snapshot(staff),
              region_id=home_region(staff))
    return staff


def _last_admin(session: Session, row: Staff) -> bool:
    others = session.scalar(sa.select(sa.func.count()).select_from(Staff).where(
        Staff.role == Role.ADMIN, Staff.active.is_(True), Staff.id != row.id))
    return row.role is Role.ADMIN and row.active and not others


def update_staff(session: Session, *, principal: Principal, staff_id: int,
                 changes: dict[str, Any], expected_version: int | None) -> Staff:
    """Change name, role, regions, outlets or `active` (False deactivates: tokens, login
    links and console sessions stop working; True brings the account back)."""
    row = get_account(session, principal=principal, staff_id=staff_id)
    if principal.role is Role.MANAGER and ({"role", "regions"} & changes.keys()):
        raise PermissionDenied("A manager may not change roles or regions; ask an admin.")
    check_version(row, expected_version, "staff account")
    if not changes:
        return row
    problems = Problems()
    role = Role(changes.get("role", row.role))
    if {"role", "regions", "outlets"} & changes.keys():
        region_codes = changes.get("regions", [r.code for r in row.regions])
        outlet_codes = changes.get("outlets", [o.code for o in row.outlets
                                               if o.deleted_at is None])
        regions, outlets = _scope(session, principal, role, region_codes, outlet_codes,
                                  problems)
    problems.raise_if_any()
    # The operator at a shell can always make a new admin; anyone else could lock all out.
    if principal is not OPERATOR and _last_admin(session, row) and \
            (role is not Role.ADMIN or changes.get("active") is False):
        raise Conflict("This is the last active admin: make another admin first.",
                       code="last_admin")
    before = staff_snapshot(row)
    with unit_of_work(session, kind="staff account", catalog=None):
        if "name" in changes:
            row.name = changes["name"]
        if "active" in changes:
            row.active = changes["active"]
        if {"role", "regions", "outlets"} & changes.keys():
            row.role, row.regions, row.outlets = role, regions, outlets
        flag_modified(row, "name")  # one UPDATE, so a change of scope alone is a new version
        session.flush()
        old, new = diff(before, staff_snapshot(row))
        action = "update"
        if set(new) - {"version"} == {"active"}:
            action = "activate" if row.active else "deactivate"
        audit(session, principal=principal, action=action, entity_type="staff", entity=row,
              before=old, after=new, region_id=home_region(row))
    return row


def get_staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff member #{staff_id}.")
    return staff


def list_staff(session: Session) -> list[Staff]:
    return list(session.scalars(sa.select(Staff).order_by(Staff.id)))


def deactivate_staff(session: Session, *, staff_id: int,
                     principal: Principal = OPERATOR) -> Staff:
    """Switch an account off: every token stops working at once, the audit trail stays."""
    row = get_account(session, principal=principal, staff_id=staff_id)
    return update_staff(session, principal=principal, staff_id=staff_id,
                        changes={"active": False}, expected_version=row.version)


def scope_codes(session: Session, principal: Principal) -> tuple[list[str], list[str]]:
    """The caller's regions and outlets by code, for people to read."""
    regions = session.scalars(sa.select(Region.code).where(
        Region.id.in_(principal.region_ids)).order_by(Region.code)).all()
    outlets = session.scalars(sa.select(Outlet.code).where(
        Outlet.id.in_(principal.outlet_ids)).order_by(Outlet.code)).all()
    return list(regions), list(outlets)
