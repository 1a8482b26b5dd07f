"""Bearer-token authentication: who is calling, as a Principal, or 401 for everyone else."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from o2o.staff.principal import Principal
from o2o.staff.tokens import authenticate

bearer = HTTPBearer(
    auto_error=False, scheme_name="StaffToken",
    description="A staff token from `o2o staff create` or `o2o staff token` (o2o_...).")


def current_staff(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The authenticated staff member; Unauthenticated (401, WWW-Authenticate: Bearer) when
    the token is missing, malformed, unknown, expired or revoked, or the account is off."""
    raw = credentials.credentials if credentials is not None else None
    # Its own short session (FastAPI runs this in a thread): noting last_used_at must not
    # ride on the handler's transaction.
    with request.app.state.services.sessions() as session:
        return authenticate(session, raw)
