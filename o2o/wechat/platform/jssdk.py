"""`wx.config` for our H5 pages opened inside WeChat, signed server-side.

WeChat checks the signature against the page's own `location.href` without `#…`, and only
for a page on a JS-SDK safe domain (the host of `public_base_url`). We sign nothing but the
URL of one of our own H5 pages carrying a genuine, unexpired link: the config endpoint is
no signing oracle for other pages on the domain, let alone another site.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from o2o.config import Settings
from o2o.customers.links import PAGES, outlet_page_url, read_link
from o2o.errors import O2OError, ValidationError

#: What our script (api/static/h5/wx.js) uses; WeChat grants nothing else to the page.
JS_API_LIST = ("openLocation", "getLocation", "updateAppMessageShareData")
#: Open tags the pages use: the coupon reminder's consent (api/templates/coupon.html).
OPEN_TAG_LIST = ("wx-open-subscribe",)
_PAGE_PATH = re.compile("^(?:" + "|".join(re.escape(p) for p in PAGES.values())
                        + r")([A-Za-z0-9_-]+)$")
_KIND_OF = {path: kind for kind, path in PAGES.items()}
#: What WeChat's in-app browser puts in its user agent (and no other browser does).
WECHAT_UA_MARK = "MicroMessenger"


class UrlNotSignable(ValidationError):
    """A URL that is not one of our H5 pages with a genuine link: not signed."""

    code = "jssdk_url_refused"


@dataclass(frozen=True, slots=True)
class JsConfig:
    """The arguments of `wx.config`, in WeChat's own names by `as_dict`."""

    app_id: str
    timestamp: int
    nonce_str: str
    signature: str
    js_api_list: tuple[str, ...] = JS_API_LIST

    def as_dict(self) -> dict[str, object]:
        return {"appId": self.app_id, "timestamp": self.timestamp, "nonceStr": self.nonce_str,
                "signature": self.signature, "jsApiList": list(self.js_api_list),
                "openTagList": list(OPEN_TAG_LIST)}


def signature(*, ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    """WeChat's JS-SDK signature: sha1 of the four fields in this order, unescaped."""
    raw = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()


def signable_url(settings: Settings, url: str, *, now: float | None = None) -> str:
    """`url` without its fragment, if it is one of our H5 pages with a genuine link;
    UrlNotSignable otherwise."""
    parts = urlsplit(url.split("#", 1)[0])
    ours = urlsplit(settings.public_base_url)
    prefix = ours.path.rstrip("/")  # our links are public_base_url + page path
    match = _PAGE_PATH.match(parts.path[len(prefix):]) \
        if parts.path.startswith(prefix + "/") else None
    if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc) or match is None:
        raise UrlNotSignable("Only our own H5 pages are configured for WeChat's JS-SDK.")
    kind = _KIND_OF[match.string[:match.start(1)]]
    try:
        read_link(settings, match.group(1), kind, now=now)
    except O2OError:
        raise UrlNotSignable("This page's link is not valid (or has expired).") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def js_config(settings: Settings, *, url: str, ticket: Callable[[], str], now: float,
              nonce: str | None = None) -> JsConfig:
    """`wx.config` for the page at `url` (refused unless `signable_url`); `ticket` gives the
    shared jsapi_ticket and raises the platform's error when WeChat cannot be reached."""
    page = signable_url(settings, url, now=now)
    nonce = nonce or secrets.token_urlsafe(12)
    timestamp = int(now)
    return JsConfig(app_id=settings.wechat_appid, timestamp=timestamp, nonce_str=nonce,
                    signature=signature(ticket=ticket(), noncestr=nonce, timestamp=timestamp,
                                        url=page))


def in_wechat(user_agent: str | None) -> bool:
    """Is this request from WeChat's in-app browser (the only place wx.* works)?"""
    return WECHAT_UA_MARK in (user_agent or "")


def share_link(settings: Settings, *, outlet_id: int, now: float) -> str:
    """The outlet page as a shared card links it: nobody's identity, query or position."""
    return outlet_page_url(settings, query_id=None, customer_hash=None, outlet_id=outlet_id,
                           shared=True, now=now)
