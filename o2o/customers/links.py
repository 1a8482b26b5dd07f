"""Sealed, expiring customer links: the H5 pages and the tracked click redirect.

Every link carries the customer's pseudonymous identity (the keyed hash) and the query it
came from, sealed with a key derived from `settings.signing_key`: a page knows who is
looking without a login, and whoever sees the link (a forwarded chat, a proxy log) learns
neither who nor where, and can neither forge, retarget nor extend it. A position rides in a
link no finer than the stored, coarsened one (~100 m). The redirect's destination is never
a URL in the link: it is one of a few kinds (`TARGETS`) the server builds itself, so the
redirect cannot be turned into an open redirect.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from o2o.config import Settings
from o2o.customers.link_codec import Link, pack, unpack
from o2o.links import LinkInvalid, seal, unseal

__all__ = ["Link", "coupon_page_url", "nearby_page_url", "opened_from_share",
           "outlet_page_url", "read_link", "tracked_url"]

#: Page kinds and the path each lives under.
PAGES = {"nearby": "/h5/nearby/", "outlet": "/h5/outlet/", "coupon": "/h5/coupon/"}
REDIRECT_PATH = "/r/"
#: What a tracked link may lead to: a page of ours, a map app, or the outlet's phone.
TARGETS = frozenset({"nearby", "outlet", "coupon", "map:tencent", "map:amap", "tel"})
SOURCES = frozenset({"wechat", "h5"})
#: Targets that need an outlet to mean anything.
OUTLET_TARGETS = frozenset({"outlet", "map:tencent", "map:amap", "tel"})
#: HKDF label of the link key: a link is sealed apart from anything else the key seals.
LABEL = b"customer-link/v1"
#: Query parameters WeChat's browser adds to a page forwarded from it
#: (from=singlemessage|groupmessage|timeline, isappinstalled=0).
SHARE_MARKERS = ("from", "isappinstalled")


def opened_from_share(params: Mapping[str, str]) -> bool:
    """Was this page opened from a forwarded copy of the link?"""
    return any(name in params for name in SHARE_MARKERS)


def _issue(settings: Settings, kind: str, *, exp: int | None, now: float | None,
           **fields: Any) -> str:
    # A follow-on link inherits the earlier link's expiry exactly: following never extends.
    expiry = int((time.time() if now is None else now) + settings.link_ttl_s) \
        if exp is None else exp
    token = seal(pack(Link(kind=kind, exp=expiry, **fields)), settings.signing_key,
                 label=LABEL, exp=expiry)
    path = REDIRECT_PATH if kind == "redirect" else PAGES[kind]
    return settings.public_base_url.rstrip("/") + path + token


def nearby_page_url(settings: Settings, *, query_id: str | None, customer_hash: str | None,
                    lat: float, lng: float, shared: bool = False, exp: int | None = None,
                    now: float | None = None) -> str:
    """The H5 nearby list for a query, from its position (WGS-84, coarsened in the link)."""
    return _issue(settings, "nearby", exp=exp, now=now, query_id=query_id,
                  customer_hash=customer_hash, lat=lat, lng=lng, shared=shared)


def outlet_page_url(settings: Settings, *, query_id: str | None, customer_hash: str | None,
                    outlet_id: int, lat: float | None = None, lng: float | None = None,
                    shared: bool = False, exp: int | None = None,
                    now: float | None = None) -> str:
    """One outlet with its current promotions (and the distance when a position is known)."""
    return _issue(settings, "outlet", exp=exp, now=now, query_id=query_id,
                  customer_hash=customer_hash, outlet_id=int(outlet_id), lat=lat, lng=lng,
                  shared=shared)


def coupon_page_url(settings: Settings, *, query_id: str | None, customer_hash: str,
                    promotion_id: int, outlet_id: int | None = None, shared: bool = False,
                    exp: int | None = None, now: float | None = None) -> str:
    """A promotion's coupon: claim it (POST to the same URL) or see the ones held."""
    return _issue(settings, "coupon", exp=exp, now=now, query_id=query_id,
                  customer_hash=customer_hash, promotion_id=int(promotion_id),
                  outlet_id=None if outlet_id is None else int(outlet_id), shared=shared)


def tracked_url(settings: Settings, *, target: str, query_id: str | None,
                customer_hash: str | None, outlet_id: int | None = None,
                promotion_id: int | None = None, lat: float | None = None,
                lng: float | None = None, source: str = "wechat", shared: bool = False,
                exp: int | None = None, now: float | None = None) -> str:
    """A `/r/<token>` link that records a click and then sends the customer to `target`.

    For "nearby", pass the query's position (`lat`/`lng`, WGS-84) when you have it;
    without it the redirect falls back to the query's recorded (coarse) position.
    `source` says where the link is shown ("wechat" reply or "h5" page), for the funnel.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown link target {target!r}; expected one of {sorted(TARGETS)}")
    if target in OUTLET_TARGETS and outlet_id is None:
        raise ValueError(f"target {target!r} needs an outlet_id")
    if target == "coupon" and (promotion_id is None or customer_hash is None):
        raise ValueError("target 'coupon' needs a promotion_id and a customer_hash")
    if source not in SOURCES:
        raise ValueError(f"unknown link source {source!r}; expected one of {sorted(SOURCES)}")
    return _issue(settings, "redirect", exp=exp, now=now, target=target, source=source,
                  query_id=query_id, customer_hash=customer_hash,
                  outlet_id=None if outlet_id is None else int(outlet_id),
                  promotion_id=None if promotion_id is None else int(promotion_id),
                  lat=lat, lng=lng, shared=shared)


def read_link(settings: Settings, token: str, kind: str, *, now: float | None = None) -> Link:
    """The content of a genuine token of `kind`; LinkInvalid / LinkExpired otherwise."""
    exp, body = unseal(token, settings.signing_key, label=LABEL, now=now)
    link = unpack(body, exp)
    if link.kind != kind:
        raise LinkInvalid("This link is not valid.")
    if kind == "nearby" and (link.lat is None or link.lng is None):
        raise LinkInvalid("This link is not valid.")
    if kind == "outlet" and link.outlet_id is None:
        raise LinkInvalid("This link is not valid.")
    if kind == "coupon" and (link.promotion_id is None or link.customer_hash is None):
        raise LinkInvalid("This link is not valid.")
    return link
