"""Bearer-token authentication: who is calling, as a Principal, or 401 for everyone else.

FastAPI reads and parses a request's body before it solves any dependency, so a dependency
alone would let anyone without a token make the server read a body first. Staff routes are
therefore built with `StaffRoute`, which authenticates before the body is touched; the
`current_staff` dependency then hands on that Principal instead of looking it up again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from o2o.db.engine import read_only
from o2o.db.schema import utcnow
from o2o.errors import Unauthenticated
from o2o.ratelimit import limiter
from o2o.staff.principal import Principal
from o2o.staff.tokens import identify, touch

bearer = HTTPBearer(
    auto_error=False, scheme_name="StaffToken",
    description="A staff token from `o2o staff create` or `o2o staff token` (o2o_...).")


def _identify(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    raw = credentials.credentials if credentials is not None else None
    services = request.app.state.services
    now = utcnow()
    # Guessing tokens: an address that has sent too many bad ones is refused before any
    # look-up (429), whatever it sends now, until its window ends.
    failures, address = limiter(services, "token-failures-ip"), client_address(request)
    failures.guard(address, "Too many invalid staff tokens from this address; wait and retry.")
    # A read of its own (in a worker thread), which on SQLite does not take the write lock:
    # checking a token must neither wait for the WeChat writes nor hold them up.
    try:
        with read_only(services.sessions)() as session:
            principal, due = identify(session, raw, now=now)
    except Unauthenticated:
        if raw is not None:  # no token at all guesses nothing
            failures.note(address)
        raise
    if due is not None:  # a note, not the caller's business: queued, never waited for
        with contextlib.suppress(RuntimeError):  # the writer has closed: shutting down
            services.writer.submit(work=partial(touch, token_id=due, now=now))
    return principal


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy: what uvicorn's
    --forwarded-allow-ips made of X-Forwarded-For)."""
    return request.client.host if request.client else "-"


async def current_staff(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The authenticated staff member; Unauthenticated (401, WWW-Authenticate: Bearer) when
    the token is missing, malformed, unknown, expired or revoked, or the account is off."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):  # StaffRoute checked it before reading the body
        return known
    return await run_in_threadpool(_identify, request, credentials)


class StaffRoute(APIRoute):
    """A route for staff only: the token is checked before FastAPI reads the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def staff_first(request: Request) -> Response:
            credentials = await bearer(request)
            request.state.principal = await run_in_threadpool(_identify, request, credentials)
            return await handler(request)

        return staff_first
