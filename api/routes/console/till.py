"""The till, "核销优惠券": look a scanned or typed code up, confirm to redeem it, once.

A plain GET form looks a code up (works without JavaScript); the camera (till.js) only fills
that form in. Confirming is a POST with the CSRF token, answered by a redirect
(POST-redirect-GET), so a reload never redeems again. The outlet picked is kept with the
console session.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import DbSession, ReadDbSession
from api.errors import status_for
from api.routes.console.auth import ConsoleSessionDep, console_router
from api.routes.console.forms import Posted, text
from api.routes.console.page import PREFIX, SECURITY_HEADERS, ConsolePage, render
from o2o.catalog.admin_outlets import get_outlet, list_outlets
from o2o.catalog.models import Outlet
from o2o.coupons.codes import PATTERN
from o2o.coupons.service import redeem
from o2o.coupons.till import till_result
from o2o.errors import NotFound, O2OError, ValidationError
from o2o.staff.models import Role
from o2o.staff.sessions import ConsoleSession, remember_outlet

TILL = f"{PREFIX}/till"
ZXING = "/static/vendor/zxing-wasm-3.1.6"
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
#: How many outlets the picker lists before it asks for a search.
PICKER_LIMIT = 50
#: The console's policy plus what the camera flow needs: compiling the QR decoder's
#: WebAssembly (its .wasm comes from this origin, like everything else) and the camera.
_CSP = SECURITY_HEADERS["Content-Security-Policy"]
assert "script-src 'self';" in _CSP
HEADERS = {
    "Content-Security-Policy": _CSP.replace("script-src 'self';",
                                            "script-src 'self' 'wasm-unsafe-eval';"),
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


class TillPage(ConsolePage):
    """A console page whose headers also let the camera and the decoder run."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            response = await handler(request)
            response.headers.update(HEADERS)
            return response

        return page


#: Session and CSRF are checked on every route (console_router).
router = console_router(TillPage)

CodeQuery = Annotated[str | None, Query(max_length=64)]


def _now() -> datetime:
    return datetime.now(UTC)


def _scope_outlet(session: Session, console: ConsoleSession,
                  asked: int | None) -> Outlet | None:
    """The outlet the till works for: the one asked for (404 outside scope), else the one
    remembered with the session (forgotten if now out of scope), else the caller's only one."""
    principal = console.principal
    if asked is not None:
        return get_outlet(session, principal=principal, outlet_id=asked)
    remembered = console.outlet_id
    if remembered is None and len(principal.outlet_ids) == 1:
        remembered = next(iter(principal.outlet_ids))
    if remembered is None:
        return None
    try:
        return get_outlet(session, principal=principal, outlet_id=remembered)
    except NotFound:
        return None


def _outlet_id(form: FormData) -> int:
    """The outlet a form names (fields are read from the body only after the session check,
    as everywhere in the console)."""
    value = text(form, "outlet_id")
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise ValidationError("outlet_id: choose an outlet",
                              details=[{"field": "outlet_id", "message": "required"}])
    return int(value)


def _page(request: Request, session: Session, console: ConsoleSession, *,
          outlet: Outlet | None, pick: bool = False, q: str | None = None,
          status_code: int = 200, **context: object) -> HTMLResponse:
    principal = console.principal
    picking = pick or outlet is None
    outlets, total = list_outlets(session, principal=principal, q=q, limit=PICKER_LIMIT) \
        if picking else ([], 0)
    return render(request, "staff/till.html", status_code=status_code, outlet=outlet,
                  picking=picking, outlets=outlets, outlets_total=total, q=q,
                  can_pick=principal.role is not Role.STAFF or len(principal.outlet_ids) > 1,
                  code_pattern=PATTERN, zxing=ZXING, **context)


@router.get("/till", response_class=HTMLResponse)
def till(request: Request, console: ConsoleSessionDep, session: ReadDbSession,
         code: CodeQuery = None, done: CodeQuery = None,
         outlet_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
         pick: Annotated[bool, Query()] = False,
         q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The till: pick an outlet if need be, then scan or type; a code shows its verdict."""
    outlet = _scope_outlet(session, console, outlet_id)
    looked_up = (done or code or "").strip()
    result = None
    if outlet is not None and looked_up and not pick:
        result = till_result(session, code=looked_up, outlet_id=outlet.id,
                             principal=console.principal, now=_now(), just_redeemed=bool(done))
    return _page(request, session, console, outlet=outlet, pick=pick, q=q, result=result)


@router.post("/till/outlet")
def pick_outlet(console: ConsoleSessionDep, session: DbSession, form: Posted) -> Response:
    """Work at this outlet from now on (remembered with the session)."""
    outlet = get_outlet(session, principal=console.principal, outlet_id=_outlet_id(form))
    remember_outlet(session, session_id=console.session_id, outlet_id=outlet.id)
    session.commit()
    return RedirectResponse(TILL, status_code=303)


@router.post("/till/redeem")
def redeem_at_till(request: Request, console: ConsoleSessionDep, session: DbSession,
                   form: Posted) -> Response:
    """Redeem, exactly once (the same service and refusals as POST /api/v1/coupons/redeem)."""
    outlet = get_outlet(session, principal=console.principal, outlet_id=_outlet_id(form))
    code = text(form, "code")
    now = _now()
    try:
        coupon = redeem(session, code=code, outlet_id=outlet.id, principal=console.principal,
                        now=now)
    except O2OError as exc:
        session.rollback()
        result = till_result(session, code=code, outlet_id=outlet.id,
                             principal=console.principal, now=now)
        return _page(request, session, console, outlet=outlet, result=result,
                     status_code=status_for(exc))
    session.commit()
    return RedirectResponse(f"{TILL}?outlet_id={outlet.id}&done={coupon.code}", status_code=303)
