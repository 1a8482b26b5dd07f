"""Customer H5 pages: the nearby list, an outlet, a coupon; server-rendered, same-origin only.

Failures on these routes are friendly HTML pages with a 4xx status, never JSON and never a
500 for a bad link (HtmlPage). Every page carries personal links, so nothing is cached or
sent on as a Referer. A page opened with WeChat's share markers is a forwarded copy: it
shows, but acts for nobody. A coupon's code is shown only in the browser that claimed it,
which the claim marks with an HttpOnly cookie scoped to the coupon pages, and to its owner
on any device once WeChat OAuth (api/routes/h5_oauth.py) says who is looking: a page that
knows no customer takes that detour inside WeChat, and a known viewer is who the page acts for.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.auth import client_address
from api.deps import CatalogDep, DbSession, ReadDbSession, ServicesDep, SettingsDep
from api.errors import error_headers, status_for
from api.routes.h5_oauth import detour, identified, oauth_callback
from o2o.config import Settings
from o2o.coupons.binding import bind, bound_coupons
from o2o.coupons.errors import CouponLimitReached
from o2o.coupons.page import coupon_page
from o2o.coupons.service import claim
from o2o.customers.identity import customer_hash
from o2o.customers.links import PAGES, Link, nearby_page_url, opened_from_share, read_link
from o2o.customers.oauth import as_viewer
from o2o.customers.pages import nearby_page, outlet_page
from o2o.errors import O2OError
from o2o.geo.datum import Datum, to_wgs84
from o2o.links import LinkInvalid
from o2o.ratelimit import limiter
from o2o.reminders.offer import reminder_offer
from o2o.wechat.platform.jssdk import in_wechat, share_link

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
#: The demo entry's position: People's Square, Shanghai, in GCJ-02 like the README's
#: `o2o simulate location 31.2304 121.4737` (what WeChat would send from there).
DEMO_POSITION = (31.2304, 121.4737)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
#: Friendly words for what can go wrong with a link, by error code.
TROUBLE = {
    "link_invalid": ("链接无效", "这个链接不完整或被改动过。请回到公众号，重新发送您的位置。"),
    "link_expired": ("链接已过期", "为了您的隐私，链接只在一段时间内有效。请回到公众号重新发送位置，"
                                 "获取最新的门店和优惠。"),
    "rate_limited": ("操作太频繁", "请稍等几分钟再试。"),
}

#: The cookie naming the coupons claimed in this browser (o2o/coupons/binding.py).
COUPON_COOKIE = "o2o_coupons"
#: What a customer reads when a claim is refused, by error code.
CLAIM_TROUBLE = {
    "coupons_sold_out": "手慢了，优惠券已经领完了。",
    "coupon_unavailable": "活动未开始或已结束，暂时不能领取。",
}


def _relative(url: str, base: str) -> str:
    """Our own absolute links as same-origin paths (the page may be served under another host
    name than public_base_url, e.g. in a test or behind a proxy)."""
    return url[len(base):] if base and url.startswith(base + "/") else url


TEMPLATES.env.filters["rel"] = _relative


def render(request: Request, name: str, settings: Settings, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page with the brand and the base URL every template needs."""
    return TEMPLATES.TemplateResponse(
        request, name, {"brand": settings.brand_name,
                        "base": settings.public_base_url.rstrip("/"),
                        "wx_sdk": wechat_sdk(request, settings), **context},
        status_code=status_code)


def wechat_sdk(request: Request, settings: Settings) -> str | None:
    """WeChat's JS-SDK script for a page opened inside WeChat; elsewhere no script at all."""
    return settings.wechat_jssdk_url if in_wechat(request.headers.get("user-agent")) else None


def h5_csp(request: Request, settings: Settings) -> str:
    """The pages' CSP; inside WeChat it also allows our wx.js, WeChat's SDK script and the
    same-origin fetch of its config (nothing else from WeChat's host)."""
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    sdk = wechat_sdk(request, settings)
    if sdk is None:
        return csp
    origin = "/".join(sdk.split("/", 3)[:3])
    return f"{csp}; script-src 'self' {origin}; connect-src 'self'"


def error_page(request: Request, exc: O2OError) -> HTMLResponse:
    """The friendly page for a refused request, with the status the error deserves."""
    title, hint = TROUBLE.get(exc.code, ("出错了", exc.message))
    settings = request.app.state.services.settings
    status = status_for(exc)
    page = render(request, "error.html", settings, status_code=status, title=title, hint=hint)
    page.headers.update(error_headers(exc, status) or {})
    return page


class HtmlPage(APIRoute):
    """A route whose refusals render error.html and whose responses carry SECURITY_HEADERS."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except O2OError as exc:
                response = error_page(request, exc)
            except RequestValidationError:
                response = error_page(request, O2OError("bad request", code="link_invalid"))
            response.headers.update(SECURITY_HEADERS)
            response.headers["Content-Security-Policy"] = h5_csp(
                request, request.app.state.services.settings)
            return response

        return page


router = APIRouter(prefix="/h5", tags=["customer pages"], route_class=HtmlPage,
                   include_in_schema=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _link(request: Request, settings: Settings, token: str, kind: str, now: datetime) -> Link:
    """The page's link; opened from a forwarded copy, it acts for nobody, unless OAuth says
    who is looking: then it acts for them."""
    link = read_link(settings, token, kind, now=now.timestamp())
    link = replace(link, shared=True) if opened_from_share(request.query_params) else link
    who = identified(request, settings, now)
    return as_viewer(link, who) if who is not None else link


def _claimed_here(request: Request, settings: Settings, now: datetime) -> frozenset[int]:
    """The coupons this browser claimed (their codes may be shown here)."""
    return bound_coupons(settings, request.cookies.get(COUPON_COOKIE), now=now)


@router.get("/nearby/{token}", response_class=HTMLResponse)
def nearby(request: Request, token: str, settings: SettingsDep, catalog: CatalogDep,
           session: DbSession) -> Response:
    now = _now()
    link = _link(request, settings, token, "nearby", now)
    if (away := detour(request, settings, link)) is not None:
        return away
    page = nearby_page(session, settings=settings, catalog=catalog, link=link, now=now)
    session.commit()
    return render(request, "nearby.html", settings, page=page)


@router.get("/outlet/{token}", response_class=HTMLResponse)
def outlet(request: Request, token: str, settings: SettingsDep, catalog: CatalogDep,
           session: ReadDbSession) -> Response:
    now = _now()
    link = _link(request, settings, token, "outlet", now)
    if (away := detour(request, settings, link)) is not None:
        return away
    item = outlet_page(session, settings=settings, catalog=catalog, link=link, now=now)
    if item is None:
        return render(request, "error.html", settings, status_code=410, title="门店已下线",
                      hint="这家门店已不在列表中。请回到公众号重新发送位置，查找附近的其他门店。")
    return render(request, "outlet.html", settings, o=item, can_claim=link.viewer is not None,
                  share_url=share_link(settings, outlet_id=item.id, now=now.timestamp()))


@router.get("/coupon/{token}", response_class=HTMLResponse)
def coupon(request: Request, token: str, settings: SettingsDep, catalog: CatalogDep,
           session: ReadDbSession, services: ServicesDep) -> Response:
    now = _now()
    link = _link(request, settings, token, "coupon", now)
    if (away := detour(request, settings, link)) is not None:
        return away
    revealed = _claimed_here(request, settings, now)
    page = coupon_page(session, catalog=catalog, link=link, now=now, revealed=revealed,
                       owner=identified(request, settings, now) is not None)
    if page.hidden_note and (away := detour(request, settings, link, hidden=True)) is not None:
        return away  # the owner on another phone: OAuth shows them their codes
    assert link.promotion_id is not None
    remind = reminder_offer(services.sessions, settings, customer_hash=link.viewer,
                            promotion_id=link.promotion_id, now=now,
                            revealed=() if link.shared else revealed)
    return render(request, "coupon.html", settings, page=page, remind=remind,
                  in_wechat="MicroMessenger" in request.headers.get("user-agent", ""),
                  claimed=request.query_params.get("claimed") == "1")


@router.post("/coupon/{token}", response_class=HTMLResponse)
def claim_coupon(request: Request, token: str, settings: SettingsDep, catalog: CatalogDep,
                 session: DbSession) -> Response:
    """Claim, then show the coupon (POST-redirect-GET: a reload does not claim again); the
    claiming browser gets the cookie that lets it see the code."""
    now = _now()
    link = _link(request, settings, token, "coupon", now)
    assert link.promotion_id is not None and link.customer_hash is not None
    if link.viewer is None:  # a forwarded copy claims for nobody
        page = coupon_page(session, catalog=catalog, link=link, now=now)
        return render(request, "coupon.html", settings, status_code=403, page=page,
                      problem=page.claim_note)
    services = request.app.state.services  # claims hoarded by one customer or one address
    limiter(services, "claims-customer").check(link.viewer, "Too many claims; wait and retry.")
    limiter(services, "claims-ip").check(client_address(request),
                                         "Too many claims from this address; wait and retry.")
    try:
        coupon = claim(session, promotion_id=link.promotion_id, customer_hash=link.viewer,
                       outlet_id=link.outlet_id, query_id=link.query_id, now=now,
                       catalog=catalog)
    except CouponLimitReached:
        session.rollback()  # a second tap: they already hold it, show it
        return RedirectResponse(request.url.path, status_code=303)
    except O2OError as exc:
        session.rollback()
        page = coupon_page(session, catalog=catalog, link=link, now=now,
                           revealed=_claimed_here(request, settings, now),
                           owner=identified(request, settings, now) is not None)
        return render(request, "coupon.html", settings, status_code=status_for(exc),
                      page=page, problem=CLAIM_TROUBLE.get(exc.code, "暂时无法领取，请稍后再试。"))
    value, max_age = bind(settings, request.cookies.get(COUPON_COOKIE), coupon_id=coupon.id,
                          expires_at=coupon.expires_at, now=now)
    session.commit()
    response = RedirectResponse(f"{request.url.path}?claimed=1", status_code=303)
    response.set_cookie(COUPON_COOKIE, value, max_age=max_age, path=PAGES["coupon"],
                        secure=settings.public_base_url.startswith("https://"), httponly=True,
                        samesite="lax")
    return response


@router.get("/demo", response_class=HTMLResponse)
def demo(settings: SettingsDep) -> Response:
    """The nearby page for a fixed Shanghai position, for the README and a first look.
    In development a demo customer can claim coupons; in production nobody can from here."""
    who = None if settings.is_production else customer_hash("demo", settings.customer_hash_key)
    lat, lng = to_wgs84(*DEMO_POSITION, Datum.GCJ02)  # nearby links carry WGS-84
    url = nearby_page_url(settings, query_id=None, customer_hash=who, lat=lat, lng=lng)
    return RedirectResponse(_relative(url, settings.public_base_url.rstrip("/")),
                            status_code=302)


router.add_api_route("/oauth", oauth_callback, methods=["GET"], response_class=HTMLResponse,
                     summary="WeChat OAuth (snsapi_base) comes back here")


@router.get("/{rest:path}", response_class=HTMLResponse)
def unknown(rest: str) -> HTMLResponse:
    """Anything else under /h5 is a mangled link (a chat app cut it, a slash crept in)."""
    raise LinkInvalid("This link is not valid.")
