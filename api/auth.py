"""Bearer-token authentication: who is calling, as a Principal, or 401 for everyone else."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from o2o.db import read_only, utcnow
from o2o.staff.principal import Principal
from o2o.staff.tokens import identify, touch

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
    services = request.app.state.services
    now = utcnow()
    # A read of its own (FastAPI runs this in a thread), which on SQLite does not take the
    # write lock: checking a token must neither wait for the WeChat writes nor hold them up.
    with read_only(services.sessions)() as session:
        principal, due = identify(session, raw, now=now)
    if due is not None:  # a note, not the caller's business: queued, never waited for
        with contextlib.suppress(RuntimeError):  # the writer has closed: shutting down
            services.writer.submit(work=partial(touch, token_id=due, now=now))
    return principal
