"""Staff accounts API: thin views over o2o.staff.service and o2o.staff.credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from api.deps import CurrentStaff, DbSession, ReadDbSession, SettingsDep
from api.params import RowId
from api.responses import CHANGE, CREATE
from api.routes.admin_common import IfMatch, Limit, Offset, admin_router, set_etag
from o2o.catalog.schemas import Page
from o2o.staff import credentials
from o2o.staff import service as svc
from o2o.staff.schemas import (
    IssuedTokenRead,
    LoginLinkIn,
    LoginLinkRead,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TokenIssueIn,
    TokenRead,
)

router = admin_router(tags=["admin: staff"])


@router.get("/staff", summary="Accounts you manage (admins: all; managers: their store staff)")
def list_staff(session: ReadDbSession, principal: CurrentStaff, active: bool | None = None,
               q: Annotated[str | None, Query(max_length=100, description="Text in the name")]
               = None, limit: Limit = 50, offset: Offset = 0) -> Page[StaffRead]:
    rows, total = svc.list_accounts(session, principal=principal, active=active, q=q,
                                    limit=limit, offset=offset)
    return Page[StaffRead](items=[StaffRead.of(r) for r in rows], total=total, limit=limit,
                           offset=offset)


@router.post("/staff", status_code=status.HTTP_201_CREATED, responses=CREATE,
             summary="Create an account")
def create_staff(staff_in: StaffCreate, session: DbSession, principal: CurrentStaff,
                 response: Response) -> StaffRead:
    row = svc.create_staff(session, principal=principal, name=staff_in.name,
                           role=staff_in.role, region_codes=staff_in.regions,
                           outlet_codes=staff_in.outlets)
    set_etag(response, row.version)
    response.headers["Location"] = f"/api/v1/staff/{row.id}"
    return StaffRead.of(row)


@router.get("/staff/{staff_id}", summary="One account (ETag for later changes)")
def read_staff(staff_id: RowId, session: ReadDbSession, principal: CurrentStaff,
               response: Response) -> StaffRead:
    row = svc.get_account(session, principal=principal, staff_id=staff_id)
    set_etag(response, row.version)
    return StaffRead.of(row)


@router.patch("/staff/{staff_id}", responses=CHANGE,
              summary="Rename, reassign, change role; active=false deactivates (If-Match "
                      "required)")
def update_staff(staff_id: RowId, staff_in: StaffUpdate, session: DbSession,
                 principal: CurrentStaff, version: IfMatch, response: Response) -> StaffRead:
    row = svc.update_staff(session, principal=principal, staff_id=staff_id,
                           changes=staff_in.changes(), expected_version=version)
    set_etag(response, row.version)
    return StaffRead.of(row)


@router.get("/staff/{staff_id}/tokens", summary="An account's tokens (never the secrets)")
def list_tokens(staff_id: RowId, session: ReadDbSession,
                principal: CurrentStaff) -> list[TokenRead]:
    rows = credentials.list_tokens(session, principal=principal, staff_id=staff_id)
    return [TokenRead.of(r) for r in rows]


@router.post("/staff/{staff_id}/tokens", responses=CREATE, status_code=status.HTTP_201_CREATED,
             summary="Issue a Bearer token: shown in this response only")
def issue_token(staff_id: RowId, session: DbSession, principal: CurrentStaff,
                token_in: TokenIssueIn | None = None) -> IssuedTokenRead:
    token_in = token_in or TokenIssueIn()
    issued = credentials.issue_token_for(session, principal=principal, staff_id=staff_id,
                                         ttl_days=token_in.expires_days)
    return IssuedTokenRead(token=issued.token, token_id=issued.token_id,
                           staff_id=issued.staff_id, prefix=issued.prefix,
                           expires_at=issued.expires_at)


@router.delete("/staff/{staff_id}/tokens/{token_id}", responses=CREATE,
               status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token")
def revoke_token(staff_id: RowId, token_id: RowId, session: DbSession,
                 principal: CurrentStaff) -> Response:
    credentials.revoke_token_for(session, principal=principal, staff_id=staff_id,
                                 token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/staff/{staff_id}/login-links", responses=CREATE, status_code=status.HTTP_201_CREATED,
             summary="A one-time sign-in link for the staff console (open or scan once)")
def issue_login_link(staff_id: RowId, session: DbSession, principal: CurrentStaff,
                     settings: SettingsDep, link_in: LoginLinkIn | None = None) -> LoginLinkRead:
    ttl = (link_in.ttl_min if link_in else None) or settings.login_link_ttl_min
    link, url = credentials.issue_login_link_for(session, principal=principal,
                                                 staff_id=staff_id, ttl_min=ttl,
                                                 base_url=settings.public_base_url)
    return LoginLinkRead(url=url, link_id=link.link_id, staff_id=link.staff_id,
                         expires_at=link.expires_at)
