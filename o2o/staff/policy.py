"""Who may do what in the admin API: the one table every admin service consults.

                     admin   manager (their regions)            staff (their outlets)
outlets: list, read  all     outlets in their regions           their outlets
outlet create        yes     only into one of their regions     no (403)
outlet update        all     in scope; may move it between      in scope; only STAFF_OUTLET_FIELDS
                             their own regions                  (hours, phone, image, tags ...)
outlet status        all     in scope                           in scope; open <-> temporarily
                                                                closed, never "closed" for good
outlet delete        all     in scope (soft delete)             no (403)
outlet import        yes     every row in one of their regions  no (403)
promotions: read     all     the ones they may write, and the   the ones they may write, and the
                             chain-wide ("all") ones            "all"/region ones reaching them
promotion write      all     scope "region" = one of theirs, or scope "outlets" all among theirs;
                             "outlets" all in their regions;    never "region" or "all"
                             never "all"
audit log: read      all     entries of their regions, and      no (403)
                             every change they made themselves

Two answers for "no": a role that may never do a thing gets 403 (PermissionDenied); a thing
outside the caller's scope is NotFound (404), word for word what a missing thing gets, so a
token cannot probe another store's data. Scope is checked before anything else (role-wide
403s aside), so a forbidden field on someone else's outlet is still a plain 404.

Staff may not move an outlet, rename it or touch its geofence: the position is what customers
are routed by, and the geofence decides which visits count for that very store.
"""

from __future__ import annotations

from collections.abc import Iterable

from o2o.errors import NotFound, PermissionDenied
from o2o.staff.models import Role
from o2o.staff.principal import Principal

#: Outlet fields a staff member may change on their own outlets.
STAFF_OUTLET_FIELDS = frozenset({"phone", "hours", "exceptions", "image_url", "tags"})
#: Statuses a staff member may set (permanent closure is a manager's decision).
STAFF_OUTLET_STATUSES = frozenset({"open", "temporarily_closed"})


def not_found(kind: str, key: object) -> NotFound:
    """The one message for a missing or out-of-scope thing."""
    return NotFound(f"No {kind} {key}.")


def require_role(principal: Principal, *roles: Role, doing: str) -> None:
    """PermissionDenied (403) unless the caller's role may ever do this."""
    if principal.role not in roles:
        raise PermissionDenied(f"A {principal.role} may not {doing}.")


def can_use_region(principal: Principal, region_id: int | None) -> bool:
    """May the caller put an outlet or a promotion into this region (None = no region)?"""
    if principal.is_admin:
        return True
    return principal.role is Role.MANAGER and region_id is not None and \
        region_id in principal.region_ids


def check_staff_fields(principal: Principal, fields: Iterable[str]) -> None:
    """Staff change only STAFF_OUTLET_FIELDS: anything else is 403, naming the fields."""
    if principal.role is not Role.STAFF:
        return
    extra = sorted(set(fields) - STAFF_OUTLET_FIELDS)
    if extra:
        raise PermissionDenied(
            "Store staff may change only " + ", ".join(sorted(STAFF_OUTLET_FIELDS)) +
            "; ask a manager for " + ", ".join(extra) + ".",
            details=[{"field": f, "message": "not editable by store staff"} for f in extra])


def check_staff_status(principal: Principal, status: str) -> None:
    if principal.role is Role.STAFF and status not in STAFF_OUTLET_STATUSES:
        raise PermissionDenied("Store staff may open or temporarily close their outlet; "
                               "closing it for good is a manager's decision.")


def can_write_promotion(principal: Principal, *, scope: str, region_id: int | None,
                        outlets: Iterable[tuple[int, int | None]]) -> bool:
    """May the caller create or change a promotion with this reach?
    `outlets` are (outlet_id, region_id) pairs of an "outlets" promotion."""
    if principal.is_admin:
        return True
    pairs = list(outlets)
    if principal.role is Role.MANAGER:
        if scope == "region":
            return region_id is not None and region_id in principal.region_ids
        if scope == "outlets":
            return bool(pairs) and all(r is not None and r in principal.region_ids
                                       for _, r in pairs)
        return False
    return scope == "outlets" and bool(pairs) and all(o in principal.outlet_ids for o, _ in pairs)


def can_read_promotion(principal: Principal, *, scope: str, region_id: int | None,
                       outlets: Iterable[tuple[int, int | None]],
                       own_outlet_regions: frozenset[int] = frozenset()) -> bool:
    """Writable ones, plus those that reach the caller's outlets from above (read-only).
    `own_outlet_regions` are the regions of a staff member's outlets."""
    pairs = list(outlets)
    if can_write_promotion(principal, scope=scope, region_id=region_id, outlets=pairs):
        return True
    if scope == "all":
        return True
    return principal.role is Role.STAFF and scope == "region" and \
        region_id is not None and region_id in own_outlet_regions
