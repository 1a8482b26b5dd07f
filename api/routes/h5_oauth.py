"""WeChat OAuth on the H5 pages (o2o/customers/oauth.py): the detour a customer-less page
takes inside WeChat, the callback WeChat returns to, and the cookies that carry the round trip.

Cookies, all HttpOnly, SameSite=Lax, Secure under https, scoped to /h5/: the state of a round
in progress (5 minutes), the sealed session (only the keyed customer hash), and a brief
"tried and failed" mark so a failed round is not retried on every page: at most one round per
page visit, never a redirect loop.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ServicesDep
from o2o.config import Settings
from o2o.customers.link_codec import Link
from o2o.customers.oauth import (
    STATE_TTL_S,
    OAuthRefused,
    begin,
    finish,
    identify,
    in_wechat,
    open_session,
    session_customer,
    state_uses_of,
)
from o2o.wechat.platform import PlatformError, platform_of

log = logging.getLogger("o2o.oauth")

SESSION_COOKIE = "o2o_customer"
STATE_COOKIE = "o2o_oauth_state"
FAILED_COOKIE = "o2o_oauth_failed"
COOKIE_PATH = "/h5/"


def identified(request: Request, settings: Settings, now: datetime | None = None) -> str | None:
    """The customer this browser's OAuth session names, if any."""
    return session_customer(settings, request.cookies.get(SESSION_COOKIE),
                            now=None if now is None else now.timestamp())


def detour(request: Request, settings: Settings, link: Link, *,
           hidden: bool = False) -> Response | None:
    """WeChat's authorize redirect, when this page knows no customer (or holds codes `hidden`
    from this browser, which OAuth may show to their owner), is open in WeChat, and no round
    failed lately nor said who is looking; None to render the page as it is."""
    if (link.viewer is not None and not hidden) or identified(request, settings) is not None \
            or not in_wechat(request.headers.get("user-agent")) \
            or request.cookies.get(FAILED_COOKIE):
        return None
    query = request.url.query
    try:
        url, state_cookie = begin(settings, request.url.path + (f"?{query}" if query else ""))
    except ValueError:  # an odd spelling of our own page: show it rather than guess
        return None
    response = RedirectResponse(url, status_code=302)
    _set(response, settings, STATE_COOKIE, state_cookie, STATE_TTL_S)
    return response


def oauth_callback(request: Request, services: ServicesDep, code: str | None = None,
                   state: str | None = None) -> Response:
    """Where WeChat's authorize redirect comes back: check the state (refused when forged or
    replayed, before WeChat is asked), exchange the code once, keep only the customer hash."""
    settings = services.settings
    return_to = finish(settings, state=state, cookie=request.cookies.get(STATE_COOKIE),
                       uses=state_uses_of(services))
    response = RedirectResponse(return_to, status_code=302)
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    try:
        who = identify(settings, platform_of(services), code)
    except (PlatformError, OAuthRefused) as exc:
        log.warning("oauth: no customer from this round (%s %s)", type(exc).__name__,
                    getattr(exc, "errcode", None))
        _set(response, settings, FAILED_COOKIE, "1", settings.wechat_oauth_retry_s)
        return response
    value, ttl = open_session(settings, who)
    _set(response, settings, SESSION_COOKIE, value, ttl)
    response.delete_cookie(FAILED_COOKIE, path=COOKIE_PATH)
    return response


def _set(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True,
                        samesite="lax", secure=settings.public_base_url.startswith("https://"))
