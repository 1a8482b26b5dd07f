"""The audit log, read-only: there is deliberately no route that changes an entry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AwareDatetime, BaseModel

from api.deps import CurrentStaff, ReadDbSession
from api.params import RowId
from api.routes.admin_common import Limit, Offset, admin_router
from o2o.audit.models import AuditEntry
from o2o.audit.service import get_entry, list_entries
from o2o.catalog.schemas import Page

router = admin_router(tags=["admin: audit log"])


class AuditEntryRead(BaseModel):
    id: int
    at: datetime
    staff_id: int | None
    staff_name: str
    action: str
    entity_type: str
    entity_id: int | None
    entity_code: str
    region_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    #: Where the change was made: "api" or "console".
    via: str = "api"

    @classmethod
    def of(cls, row: AuditEntry) -> AuditEntryRead:
        return cls(id=row.id, at=row.at, staff_id=row.staff_id, staff_name=row.staff_name,
                   action=row.action, entity_type=row.entity_type, entity_id=row.entity_id,
                   entity_code=row.entity_code, region_id=row.region_id, before=row.before,
                   after=row.after, request_id=row.request_id, via=row.via)


@router.get("/audit", summary="Who changed what, when (admin: all; manager: their regions "
                              "and their own changes)")
def list_audit(
    session: ReadDbSession, principal: CurrentStaff,
    entity_type: Annotated[str | None, Query(max_length=32, description="outlet, promotion")]
    = None,
    entity_id: RowId | None = None,
    entity_code: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    staff_id: RowId | None = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO time with zone")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO time with zone")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[AuditEntryRead]:
    rows, total = list_entries(session, principal=principal, entity_type=entity_type,
                               entity_id=entity_id, entity_code=entity_code, action=action,
                               staff_id=staff_id, since=since, until=until, limit=limit,
                               offset=offset)
    return Page[AuditEntryRead](items=[AuditEntryRead.of(r) for r in rows], total=total,
                                limit=limit, offset=offset)


@router.get("/audit/{entry_id}", summary="One audit entry")
def read_audit_entry(entry_id: RowId, session: ReadDbSession,
                     principal: CurrentStaff) -> AuditEntryRead:
    return AuditEntryRead.of(get_entry(session, principal=principal, entry_id=entry_id))
