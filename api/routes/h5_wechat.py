"""What the H5 pages' script (static/h5/wx.js) asks for inside WeChat: the signed `wx.config`
for the page, and the nearby list re-ranked from the position WeChat gave it."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from api.deps import ServicesDep, SettingsDep
from api.routes.h5 import HtmlPage, _link, _now, _relative
from o2o.customers.links import nearby_page_url
from o2o.geo.datum import Datum, to_wgs84
from o2o.wechat.platform import platform_of
from o2o.wechat.platform.jssdk import js_config

config_router = APIRouter(prefix="/api/v1/wechat", tags=["customer pages"])
#: Mounted before the H5 router, whose catch-all would otherwise take these paths.
page_router = APIRouter(prefix="/h5", route_class=HtmlPage, include_in_schema=False)


@config_router.get("/js-config", summary="wx.config for one of our H5 pages inside WeChat")
def wechat_js_config(services: ServicesDep,
                     url: Annotated[str, Query(max_length=2048)]) -> JSONResponse:
    """Signed for `url` (the page's location.href; the fragment is dropped) if it is one of our
    H5 pages with a genuine link: 422 for any other URL, 503 while WeChat's API is down
    (the page then keeps its ordinary links)."""
    config = js_config(services.settings, url=url, now=time.time(),
                       ticket=platform_of(services).jsapi_ticket)
    return JSONResponse(config.as_dict(), headers={"Cache-Control": "no-store"})


@page_router.get("/nearby/{token}/here")
def nearby_here(request: Request, token: str, settings: SettingsDep,
                lat: Annotated[float, Query(ge=-90, le=90)],
                lng: Annotated[float, Query(ge=-180, le=180)]) -> RedirectResponse:
    """The nearby page again, ranked from the customer's position (GCJ-02, from
    wx.getLocation). The new link keeps the old one's customer (or nobody, on a forwarded
    copy) and expiry, no query, and the position only as coarse as every link keeps it."""
    link = _link(request, settings, token, "nearby", _now())
    wgs_lat, wgs_lng = to_wgs84(lat, lng, Datum.GCJ02)
    url = nearby_page_url(settings, query_id=None, customer_hash=link.customer_hash,
                          lat=wgs_lat, lng=wgs_lng, shared=link.shared, exp=link.exp)
    return RedirectResponse(_relative(url, settings.public_base_url.rstrip("/")),
                            status_code=303)
