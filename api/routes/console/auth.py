"""Console sign-in by one-time link, the session cookie, sign-out, and the dependencies every
console page hangs on: `ConsoleStaff` (who is signed in) and `require_csrf` (every POST).

GET /staff/login?t=... only shows a confirm button: link scanners and chat previews fetch
links on their own, and must not use them up. The POST redeems the link, rotates the session
id and sets the cookie. Attempts are rate limited per client IP and per link.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import DbSession, ReadDbSession, ServicesDep
from api.routes.console.forms import Posted, text
from api.routes.console.page import PREFIX, SIGNIN, ConsolePage, CsrfFailed, RateLimited, render
from o2o.config import Settings
from o2o.db.engine import read_only
from o2o.db.schema import utcnow
from o2o.errors import O2OError
from o2o.ratelimit import RateLimiter
from o2o.services import Services
from o2o.staff.login_links import check_login_link, redeem_login_link
from o2o.staff.principal import Principal
from o2o.staff.sessions import (
    ConsoleSession,
    csrf_ok,
    csrf_token,
    end_session,
    resume_session,
    start_session,
    touch_session,
)
from o2o.staff.tokens import hash_token

COOKIE = "o2o_staff"
#: Before sign-in there is no session: the confirm form's CSRF token is tied to this cookie.
PRE_COOKIE = "o2o_staff_pre"
#: What a refused link reads like: (title, hint).
LINK_TROUBLE = {
    "login_link_used": ("登录链接已使用", "每个登录链接只能使用一次。请向店长或区域经理索取新的链接。"),
    "login_link_expired": ("登录链接已过期", "登录链接只在短时间内有效。请向店长或区域经理索取新的链接。"),
    "login_link_invalid": ("登录链接无效", "链接不完整或已被撤销。请向店长或区域经理索取新的链接。"),
}


def _idle(settings: Settings) -> timedelta:
    return timedelta(hours=settings.console_session_idle_h)


def console_session(request: Request) -> ConsoleSession:
    """The live console session behind the cookie (SessionEnded sends to the sign-in page)."""
    services: Services = request.app.state.services
    now = utcnow()
    with read_only(services.sessions)() as session:
        console = resume_session(session, request.cookies.get(COOKIE),
                                 idle=_idle(services.settings), now=now)
    if console.touch_due:  # the idle clock restarts; queued, never waited for
        with contextlib.suppress(RuntimeError):  # the writer has closed: shutting down
            services.writer.submit(work=partial(touch_session, session_id=console.session_id,
                                                now=now))
    request.state.console = console
    return console


ConsoleSessionDep = Annotated[ConsoleSession, Depends(console_session)]


async def console_staff(console: ConsoleSessionDep) -> Principal:
    return console.principal


ConsoleStaff = Annotated[Principal, Depends(console_staff)]


async def require_csrf(request: Request, console: ConsoleSessionDep) -> None:
    """Every state-changing request carries the session's CSRF token in its form."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(console.csrf_secret, token if isinstance(token, str) else None):
        raise CsrfFailed("The form's security token is missing or wrong; reload the page.")


def console_router(route_class: type[ConsolePage] = ConsolePage) -> APIRouter:
    """A router for signed-in console pages: session and CSRF checked on every route
    (`route_class`: a ConsolePage that adds to the headers, e.g. the till's camera CSP)."""
    return APIRouter(route_class=route_class, include_in_schema=False,
                     dependencies=[Depends(require_csrf)])


router = APIRouter(route_class=ConsolePage, include_in_schema=False)


def _limiters(services: Services) -> tuple[RateLimiter, RateLimiter]:
    """Per-IP and per-link sign-in limiters, one pair per app (shared through Redis)."""
    pair = services.extras.get("console_login_limits")
    if pair is None:
        s = services.settings
        pair = (RateLimiter(name="login-ip", limit=s.console_login_per_ip,
                            window_s=s.console_login_window_s, redis=services.redis),
                RateLimiter(name="login-link", limit=s.console_login_per_link,
                            window_s=s.console_login_window_s, redis=services.redis))
        services.extras["console_login_limits"] = pair
    return pair


def limit_ip(request: Request) -> None:
    """Count a sign-in attempt against the client's address, before its body is read."""
    per_ip, _ = _limiters(request.app.state.services)
    if not per_ip.hit(request.client.host if request.client else "-"):
        raise RateLimited("Too many sign-in attempts; wait a few minutes.")


def _limit_link(services: Services, link: str) -> None:
    _, per_link = _limiters(services)
    if not per_link.hit(hash_token(link)[:32]):
        raise RateLimited("Too many sign-in attempts with this link; wait a few minutes.")


def _link_trouble(request: Request, exc: O2OError) -> HTMLResponse:
    title, hint = LINK_TROUBLE.get(exc.code, LINK_TROUBLE["login_link_invalid"])
    return render(request, "staff/trouble.html", status_code=410 if exc.code in (
        "login_link_used", "login_link_expired") else 401, title=title, hint=hint, detail="")


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True,
                        secure=settings.is_production, samesite="lax")


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(limit_ip)])
def login_form(request: Request, services: ServicesDep, session: ReadDbSession,
               t: str = "") -> Response:
    """Whose link this is, and one button to sign in."""
    _limit_link(services, t)
    try:
        staff = check_login_link(session, t)
    except O2OError as exc:
        return _link_trouble(request, exc)
    pre = secrets.token_urlsafe(24)
    response = render(request, "staff/login.html", who=staff.name, token=t,
                      csrf=csrf_token(pre))
    _cookie(response, services.settings, PRE_COOKIE, pre, max_age=30 * 60)
    return response


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(limit_ip)])
def login(request: Request, services: ServicesDep, session: DbSession, form: Posted
          ) -> Response:
    """Use the link up, start a new session, set its cookie, go to the console."""
    t = text(form, "t")
    _limit_link(services, t)
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or not csrf_ok(pre, text(form, "csrf")):
        raise CsrfFailed("The sign-in form's security token is missing or wrong.")
    settings = services.settings
    try:
        staff = redeem_login_link(session, t)
    except O2OError as exc:
        session.rollback()
        return _link_trouble(request, exc)
    started = start_session(session, staff=staff, idle=_idle(settings),
                            cap=timedelta(hours=settings.console_session_max_h),
                            previous=request.cookies.get(COOKIE))
    session.commit()
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    _cookie(response, settings, COOKIE, started.sid,
            max_age=int(settings.console_session_max_h * 3600))
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request) -> Response:
    """Where an unsigned visitor lands: how to get a link (there is no password)."""
    return render(request, "staff/signin.html", bye=request.query_params.get("bye") == "1")


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request, services: ServicesDep, session: DbSession) -> Response:
    end_session(session, request.cookies.get(COOKIE, ""))
    session.commit()
    response = RedirectResponse(f"{SIGNIN}?bye=1", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response

