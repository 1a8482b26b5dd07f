"""Write one audit entry per change, in the change's own transaction; read them back by scope.

Nothing here updates or deletes an entry: the log is append-only, and the API exposes it
read-only. Readers: an admin sees everything; a manager sees entries of their regions and
every change they made themselves; store staff see none. An entry carries one region (the
entity's after the change): when an admin moves an outlet to another region, the entry
belongs to the new region's manager.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.audit.models import AuditEntry
from o2o.errors import ValidationError
from o2o.logs import request_id_var
from o2o.staff.models import Role
from o2o.staff.policy import not_found, require_role
from o2o.staff.principal import Principal

MAX_LIMIT = 200
#: Where the changes of the running request are made ("api", "console", "cli"): set once by
#: the front door (the console's routes set "console"), read by every audit entry, so the
#: services stay the same for every caller.
audit_via: ContextVar[str] = ContextVar("audit_via", default="api")


def jsonable(value: Any) -> Any:
    """A value as JSON keeps it: dates as ISO text, enums as their value, sets sorted."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def audit(session: Session, *, principal: Principal | None, action: str, entity_type: str,
          entity: Any, before: dict[str, Any] | None, after: dict[str, Any] | None,
          region_id: int | None = None, request_id: str | None = None) -> AuditEntry:
    """Add the entry to the caller's transaction: it commits or rolls back with the change.

    `region_id` (for manager scoping) defaults to the entity's region after the change,
    else before it.
    """
    if region_id is None:
        region_id = getattr(entity, "region_id", None)
        if region_id is None and before:
            region_id = before.get("region_id")
    entry = AuditEntry(
        staff_id=principal.staff_id if principal else None,
        staff_name=principal.name if principal else "system",
        action=action, entity_type=entity_type, entity_id=getattr(entity, "id", None),
        entity_code=str(getattr(entity, "code", "") or "")[:64], region_id=region_id,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        request_id=(request_id if request_id is not None else request_id_var.get())[:64],
        via=audit_via.get(),
    )
    session.add(entry)
    return entry


def _scoped(principal: Principal) -> sa.Select:
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="read the audit log")
    query = sa.select(AuditEntry)
    if not principal.is_admin:
        query = query.where(sa.or_(AuditEntry.region_id.in_(principal.region_ids),
                                   AuditEntry.staff_id == principal.staff_id))
    return query


def list_entries(session: Session, *, principal: Principal, entity_type: str | None = None,
                 entity_id: int | None = None, entity_code: str | None = None,
                 action: str | None = None, staff_id: int | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Entries the caller may read, newest first, and how many match in all."""
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValidationError(f"limit must be 1..{MAX_LIMIT} and offset >= 0",
                              details=[{"field": "limit", "message": f"1..{MAX_LIMIT}"}])
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(f"{name} needs a time zone (e.g. 2026-01-01T00:00:00+08:00)",
                                  details=[{"field": name, "message": "timezone required"}])
    query = _scoped(principal)
    equal = {AuditEntry.entity_type: entity_type, AuditEntry.entity_id: entity_id,
             AuditEntry.entity_code: entity_code, AuditEntry.action: action,
             AuditEntry.staff_id: staff_id}
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                           .limit(limit).offset(offset)).all()
    return list(rows), total


def get_entry(session: Session, *, principal: Principal, entry_id: int) -> AuditEntry:
    """One entry in the caller's scope; out of scope reads exactly like missing."""
    row = session.scalar(_scoped(principal).where(AuditEntry.id == entry_id))
    if row is None:
        raise not_found("audit entry", f"#{entry_id}")
    return row
