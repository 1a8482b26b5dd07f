"""GET /api/v1/me: who the token belongs to and what it may reach (for admin front ends)."""

from __future__ import annotations

from pydantic import BaseModel

from api.deps import CurrentStaff, ReadDbSession
from api.routes.admin_common import admin_router
from o2o.staff.service import scope_codes

router = admin_router(tags=["admin: staff"])


class MeRead(BaseModel):
    staff_id: int
    name: str
    role: str
    regions: list[str]
    outlets: list[str]


@router.get("/me", summary="The caller: name, role and scope")
def me(session: ReadDbSession, principal: CurrentStaff) -> MeRead:
    regions, outlets = scope_codes(session, principal)
    return MeRead(staff_id=principal.staff_id, name=principal.name, role=str(principal.role),
                  regions=regions, outlets=outlets)
