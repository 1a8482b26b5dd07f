"""Admin services for promotions: scoped list and read, create, partial update, status, delete.

Reach ("all", one region, listed outlets) must lie within the caller's scope (o2o.staff.policy);
a promotion the caller may read but not change (a chain-wide one, for a manager) is 403 to
change, one outside their scope is 404. Status: draft -> published -> archived; a published
one can be withdrawn to draft, an archived one reused as a draft. Only a draft that was never
published can be deleted; the rest are archived, so history and analytics keep them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.audit.models import AuditEntry
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
from o2o.catalog.models import (
    Outlet,
    Promotion,
    PromotionScope,
    PromotionStatus,
    Region,
    promotion_outlets,
)
from o2o.catalog.schedule import parse_schedule
from o2o.catalog.schemas import PromotionCreate, PromotionStatusIn, PromotionUpdate
from o2o.db.schema import utcnow
from o2o.errors import Conflict, PermissionDenied, ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import can_write_promotion, require_role
from o2o.staff.principal import Principal

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

S = PromotionStatus
TRANSITIONS = {
    (S.DRAFT, S.PUBLISHED), (S.DRAFT, S.ARCHIVED), (S.PUBLISHED, S.ARCHIVED),
    (S.PUBLISHED, S.DRAFT), (S.ARCHIVED, S.DRAFT),
}
SNAPSHOT_FIELDS = ("code", "title", "description", "image_url", "link_url", "valid_from",
                   "valid_until", "weekdays", "daily_start", "daily_end", "timezone",
                   "priority", "status", "scope", "region_id", "coupon_enabled", "coupon_total",
                   "coupon_per_customer", "coupon_valid_days", "version")


class InvalidTransition(Conflict):
    code = "invalid_transition"


def promotion_snapshot(row: Promotion) -> dict[str, Any]:
    data = {f: getattr(row, f) for f in SNAPSHOT_FIELDS}
    data["outlets"] = sorted(o.code for o in row.outlets)
    return data


def _own_outlet_regions(session: Session, principal: Principal) -> frozenset[int]:
    if principal.role is not Role.STAFF or not principal.outlet_ids:
        return frozenset()
    rows = session.scalars(sa.select(Outlet.region_id).where(
        Outlet.id.in_(principal.outlet_ids), Outlet.region_id.is_not(None)))
    return frozenset(rows)


def _visible(session: Session, principal: Principal) -> sa.Select:
    """Promotions the caller may read, as SQL (mirrors policy.can_read_promotion)."""
    query = sa.select(Promotion)
    if principal.is_admin:
        return query
    link, live = promotion_outlets, Outlet.deleted_at.is_(None)
    if principal.role is Role.MANAGER:
        stray = sa.or_(Outlet.region_id.is_(None), Outlet.region_id.not_in(principal.region_ids))
    else:
        stray = Outlet.id.not_in(principal.outlet_ids)
    linked = sa.exists().where(link.c.promotion_id == Promotion.id,
                               link.c.outlet_id == Outlet.id, live)
    outside = sa.exists().where(link.c.promotion_id == Promotion.id,
                                link.c.outlet_id == Outlet.id, live, stray)
    mine = sa.and_(Promotion.scope == PromotionScope.OUTLETS, linked, ~outside)
    if principal.role is Role.MANAGER:
        regional = Promotion.region_id.in_(principal.region_ids)
    else:
        regional = Promotion.region_id.in_(_own_outlet_regions(session, principal))
    return query.where(sa.or_(
        mine, Promotion.scope == PromotionScope.ALL,
        sa.and_(Promotion.scope == PromotionScope.REGION, regional)))


def list_promotions(session: Session, *, principal: Principal,
                    status: PromotionStatus | str | None = None, outlet: str | None = None,
                    q: str | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[Promotion], int]:
    """The caller's promotions, highest priority first; `outlet` keeps those linked to it."""
    check_page(limit, offset)
    query = _visible(session, principal)
    if status is not None:
        query = query.where(Promotion.status == PromotionStatus(status))
    if outlet:
        query = query.where(Promotion.outlets.any(Outlet.code == outlet))
    if q and q.strip():
        text = q.strip().lower()
        query = query.where(sa.or_(sa.func.lower(Promotion.code).contains(text, autoescape=True),
                                   sa.func.lower(Promotion.title).contains(text, autoescape=True)))
    return page_of(session, query, Promotion.priority.desc(), Promotion.id.desc(),
                   limit=limit, offset=offset)


def get_promotion(session: Session, *, principal: Principal, promotion_id: int) -> Promotion:
    return one_in_scope(session, _visible(session, principal).where(Promotion.id == promotion_id),
                        kind="promotion", key=promotion_id)


def _reach_pairs(outlets: list[Outlet]) -> list[tuple[int, int | None]]:
    return [(o.id, o.region_id) for o in outlets if o.deleted_at is None]


def _writable(session: Session, principal: Principal, promotion_id: int) -> Promotion:
    """Readable (else 404) and changeable by the caller (else 403: they can see it anyway)."""
    row = get_promotion(session, principal=principal, promotion_id=promotion_id)
    if not writable(row, principal=principal):
        raise PermissionDenied(f"Promotion #{promotion_id} reaches beyond your outlets or "
                               "regions; you may read it but not change it.")
    return row


def _resolve(session: Session, principal: Principal, state: dict[str, Any],
             problems: Problems) -> tuple[Region | None, list[Outlet]]:
    """Check the merged state of a promotion; returns its region and outlets."""
    scope = PromotionScope(state["scope"])
    if scope is PromotionScope.ALL:
        require_role(principal, Role.ADMIN, doing="create chain-wide promotions")
    if scope is PromotionScope.REGION:
        require_role(principal, Role.ADMIN, Role.MANAGER, doing="create regional promotions")
    region: Region | None = None
    outlets: list[Outlet] = []
    if scope is PromotionScope.REGION:
        if not state.get("region"):
            problems.add("region", "required when scope is region")
        else:
            region = session.scalar(sa.select(Region).where(Region.code == state["region"]))
            if region is None or not (principal.is_admin or region.id in principal.region_ids):
                problems.add("region", f"unknown region code {state['region']!r}")
                region = None
    elif state.get("region"):
        problems.add("region", f"only a region-scoped promotion names a region (scope is {scope})")
    codes = state.get("outlets") or []
    if scope is PromotionScope.OUTLETS:
        if not codes:
            problems.add("outlets", "at least one outlet code when scope is outlets")
        found = {o.code: o for o in session.scalars(sa.select(Outlet).where(
            Outlet.code.in_(codes), Outlet.deleted_at.is_(None)))}
        for code in codes:
            row = found.get(code)
            if row is None or not principal.can_touch_outlet(row.id, row.region_id):
                problems.add("outlets", f"unknown outlet code {code!r}")
            else:
                outlets.append(row)
    elif codes:
        problems.add("outlets", f"only an outlets-scoped promotion lists outlets (scope is {scope})")
    _check_schedule(state, problems)
    if state.get("coupon_total") is not None and state["coupon_total"] < state.get(
            "coupon_claimed", 0):
        problems.add("coupon_total", f"below the {state['coupon_claimed']} already claimed")
    return region, outlets


def _check_schedule(state: dict[str, Any], problems: Problems) -> None:
    """The schedule module's rules (window order, weekdays, daily window, zone), one voice."""
    try:
        parse_schedule(state)
    except ValidationError as exc:
        for item in exc.details or [{"field": "schedule", "message": exc.message}]:
            problems.add(item["field"], item["message"])


def _audit_region(scope: PromotionScope, region: Region | None,
                  outlets: list[Outlet]) -> int | None:
    if scope is PromotionScope.REGION:
        return region.id if region else None
    regions = {o.region_id for o in outlets}
    return regions.pop() if len(regions) == 1 else None


def create_promotion(session: Session, *, principal: Principal, promotion_in: PromotionCreate,
                     catalog: Catalog | None = None) -> Promotion:
    """A new draft within the caller's reach."""
    problems = Problems()
    state = promotion_in.model_dump()
    region, outlets = _resolve(session, principal, state, problems)
    problems.raise_if_any()
    if session.scalar(sa.select(Promotion.id).where(Promotion.code == promotion_in.code)):
        raise Conflict(f"Promotion code {promotion_in.code!r} is already in use.",
                       code="duplicate_code",
                       details=[{"field": "code", "message": "already in use"}])
    data = promotion_in.model_dump(exclude={"region", "outlets"})
    row = Promotion(**data, status=PromotionStatus.DRAFT, region_id=region.id if region else None,
                    created_by=principal.staff_id)
    row.outlets = outlets
    with unit_of_work(session, kind="promotion", catalog=catalog):
        session.add(row)
        session.flush()
        record_change(session, "promotion", row.id)
        audit(session, principal=principal, action="create", entity_type="promotion",
              entity=row, before=None, after=promotion_snapshot(row),
              region_id=_audit_region(row.scope, region, outlets))
    return row


def update_promotion(session: Session, *, principal: Principal, promotion_id: int,
                     promotion_in: PromotionUpdate, expected_version: int | None,
                     catalog: Catalog | None = None) -> Promotion:
    """Change the fields sent; the merged promotion must still be valid and within reach."""
    row = _writable(session, principal, promotion_id)
    check_version(row, expected_version, "promotion")
    changes = promotion_in.changes()
    if not changes:
        return row  # nothing sent: no new version, no audit entry
    before = promotion_snapshot(row)
    state = dict(before, region=row.region.code if row.region else None,
                 outlets=[o.code for o in row.outlets if o.deleted_at is None],
                 coupon_claimed=row.coupon_claimed)
    state.update(changes)
    if "scope" in changes and changes["scope"] != row.scope:
        # A new reach replaces the old one: what belonged to the old scope goes unless sent.
        for key, empty in (("region", None), ("outlets", [])):
            if key not in changes:
                state[key] = empty
    problems = Problems()
    region, outlets = _resolve(session, principal, state, problems)
    problems.raise_if_any()
    with unit_of_work(session, kind="promotion", catalog=catalog):
        for field, value in changes.items():
            if field not in ("region", "outlets"):
                setattr(row, field, value)
        row.region_id = region.id if region else None
        row.outlets = outlets
        row.updated_at = utcnow()
        session.flush()
        old, new = diff(before, promotion_snapshot(row))
        record_change(session, "promotion", row.id)
        audit(session, principal=principal, action="update", entity_type="promotion",
              entity=row, before=old, after=new,
              region_id=_audit_region(row.scope, region, outlets))
    return row


def set_promotion_status(session: Session, *, principal: Principal, promotion_id: int,
                         status_in: PromotionStatusIn, expected_version: int | None,
                         catalog: Catalog | None = None,
                         now: datetime | None = None) -> Promotion:
    """Move along draft -> published -> archived (see TRANSITIONS); publishing an offer that
    has already ended is refused, it would never show."""
    row = _writable(session, principal, promotion_id)
    check_version(row, expected_version, "promotion")
    old, new = PromotionStatus(row.status), status_in.status
    if old is new:
        return row
    if (old, new) not in TRANSITIONS:
        raise InvalidTransition(f"A {old} promotion cannot become {new}; allowed: " + ", ".join(
            sorted(f"{a}->{b}" for a, b in TRANSITIONS if a is old)))
    if new is PromotionStatus.PUBLISHED and row.valid_until is not None and \
            row.valid_until <= (now or utcnow()):
        Problems.raise_one("valid_until", "has already passed: this offer would never show")
    before = promotion_snapshot(row)
    with unit_of_work(session, kind="promotion", catalog=catalog):
        row.status = new
        row.updated_at = utcnow()
        session.flush()
        record_change(session, "promotion", row.id)
        audit(session, principal=principal, action=f"status:{new}", entity_type="promotion",
              entity=row, before={"status": before["status"], "version": before["version"]},
              after={"status": new, "version": row.version},
              region_id=_audit_region(row.scope, row.region, list(row.outlets)))
    return row


def delete_promotion(session: Session, *, principal: Principal, promotion_id: int,
                     expected_version: int | None, catalog: Catalog | None = None) -> None:
    """Delete a draft that never went live; anything published is archived instead."""
    row = _writable(session, principal, promotion_id)
    check_version(row, expected_version, "promotion")
    if row.status is not PromotionStatus.DRAFT or _was_published(session, row.id):
        raise Conflict("Only a draft that was never published can be deleted; archive this "
                       "one instead (history and analytics keep it).", code="archive_instead")
    before = promotion_snapshot(row)
    region_id = _audit_region(row.scope, row.region, list(row.outlets))
    with unit_of_work(session, kind="promotion", catalog=catalog):
        audit(session, principal=principal, action="delete", entity_type="promotion",
              entity=row, before=before, after=None, region_id=region_id)
        session.delete(row)
        session.flush()
        record_change(session, "promotion", promotion_id)


def _was_published(session: Session, promotion_id: int) -> bool:
    return session.scalar(sa.select(AuditEntry.id).where(
        AuditEntry.entity_type == "promotion", AuditEntry.entity_id == promotion_id,
        AuditEntry.action == "status:published").limit(1)) is not None


def regions_for(session: Session, *, principal: Principal) -> list[Region]:
    """Regions a promotion of the caller's may name (admin: all; a manager: theirs)."""
    if principal.role is Role.STAFF:
        return []
    query = sa.select(Region).order_by(Region.code)
    if not principal.is_admin:
        query = query.where(Region.id.in_(principal.region_ids))
    return list(session.scalars(query.limit(500)))


def writable(row: Promotion, *, principal: Principal) -> bool:
    """May the caller change this (readable) promotion?"""
    return can_write_promotion(principal, scope=str(row.scope), region_id=row.region_id,
                               outlets=_reach_pairs(row.outlets))
