"""GET /api/v1/me: who the token belongs to and what it may reach (for admin front ends)."""

from __future__ import annotations

from fastapi import Response, status
from pydantic import BaseModel

from api.deps import CurrentStaff, DbSession, ReadDbSession
from api.params import RowId
from api.responses import CREATE
from api.routes.admin_common import admin_router
from o2o.staff.credentials import own_tokens, revoke_own_token
from o2o.staff.schemas import TokenRead
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


@router.get("/me/tokens", summary="Your own tokens (never the secrets)")
def my_tokens(session: ReadDbSession, principal: CurrentStaff) -> list[TokenRead]:
    return [TokenRead.of(t) for t in own_tokens(session, principal=principal)]


@router.delete("/me/tokens/{token_id}", responses=CREATE, status_code=status.HTTP_204_NO_CONTENT,
               summary="Revoke one of your own tokens")
def revoke_my_token(token_id: RowId, session: DbSession, principal: CurrentStaff) -> Response:
    revoke_own_token(session, principal=principal, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
