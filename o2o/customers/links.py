"""Signed, expiring customer links: the H5 pages and the tracked click redirect.

Every link carries the customer's pseudonymous identity (the keyed hash) and the query it
came from, signed with `settings.signing_key`, so a page knows who is looking without a
login and nobody can forge, retarget or extend a link. The redirect's destination is never
a URL in the link: it is one of a few kinds (`TARGETS`) the server builds itself, so the
redirect cannot be turned into an open redirect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from o2o.config import Settings
from o2o.links import LinkInvalid, sign, verify

#: Page kinds and the path each lives under.
PAGES = {"nearby": "/h5/nearby/", "outlet": "/h5/outlet/", "coupon": "/h5/coupon/"}
REDIRECT_PATH = "/r/"
#: What a tracked link may lead to: a page of ours, a map app, or the outlet's phone.
TARGETS = frozenset({"nearby", "outlet", "coupon", "map:tencent", "map:amap", "tel"})
SOURCES = frozenset({"wechat", "h5"})
#: Targets that need an outlet to mean anything.
OUTLET_TARGETS = frozenset({"outlet", "map:tencent", "map:amap", "tel"})
#: Decimals of the position a nearby link keeps: 4 is ~10 m, plenty for a distance list.
LINK_DECIMALS = 4
_KIND = {"nearby": "n", "outlet": "o", "coupon": "c", "redirect": "r"}
_KIND_NAME = {v: k for k, v in _KIND.items()}


@dataclass(frozen=True, slots=True)
class Link:
    """What a verified token says; `exp` is kept so follow-on links never outlive it."""

    kind: str
    exp: int
    query_id: str | None = None
    customer_hash: str | None = None
    outlet_id: int | None = None
    promotion_id: int | None = None
    lat: float | None = None
    lng: float | None = None
    target: str | None = None
    #: Where a tracked link was shown: "wechat" (a reply) or "h5" (one of our pages).
    source: str | None = None


def _token(settings: Settings, kind: str, fields: dict[str, Any], *, exp: int | None,
           now: float | None) -> str:
    payload = {"k": _KIND[kind], **{k: v for k, v in fields.items() if v is not None}}
    at = time.time() if now is None else now
    if exp is None:
        return sign(payload, settings.signing_key, ttl_s=settings.link_ttl_s, now=at)
    # Inherit an earlier link's expiry exactly: following a link never extends it.
    return sign(payload, settings.signing_key, ttl_s=0, now=float(exp))


def _url(settings: Settings, path: str, token: str) -> str:
    return settings.public_base_url.rstrip("/") + path + token


def _position(lat: float | None, lng: float | None) -> dict[str, float | None]:
    if lat is None or lng is None:
        return {"la": None, "ln": None}
    return {"la": round(float(lat), LINK_DECIMALS), "ln": round(float(lng), LINK_DECIMALS)}


def nearby_page_url(settings: Settings, *, query_id: str | None, customer_hash: str | None,
                    lat: float, lng: float, exp: int | None = None, now: float | None = None) -> str:
    """The H5 nearby list for a query; the WGS-84 position (~10 m) rides in the token."""
    token = _token(settings, "nearby", {"q": query_id, "c": customer_hash,
                                        **_position(lat, lng)}, exp=exp, now=now)
    return _url(settings, PAGES["nearby"], token)


def outlet_page_url(settings: Settings, *, query_id: str | None, customer_hash: str | None,
                    outlet_id: int, lat: float | None = None, lng: float | None = None,
                    exp: int | None = None, now: float | None = None) -> str:
    """One outlet with its current promotions (and the distance when a position is known)."""
    token = _token(settings, "outlet", {"q": query_id, "c": customer_hash, "o": int(outlet_id),
                                        **_position(lat, lng)}, exp=exp, now=now)
    return _url(settings, PAGES["outlet"], token)


def coupon_page_url(settings: Settings, *, query_id: str | None, customer_hash: str,
                    promotion_id: int, outlet_id: int | None = None, exp: int | None = None,
                    now: float | None = None) -> str:
    """A promotion's coupon: claim it (POST to the same URL) or show the ones held."""
    token = _token(settings, "coupon", {"q": query_id, "c": customer_hash,
                                        "p": int(promotion_id),
                                        "o": None if outlet_id is None else int(outlet_id)},
                   exp=exp, now=now)
    return _url(settings, PAGES["coupon"], token)


def tracked_url(settings: Settings, *, target: str, query_id: str | None,
                customer_hash: str | None, outlet_id: int | None = None,
                promotion_id: int | None = None, lat: float | None = None,
                lng: float | None = None, source: str = "wechat", exp: int | None = None,
                now: float | None = None) -> str:
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
    fields = {"t": target, "s": None if source == "wechat" else source, "q": query_id, "c": customer_hash,
              "o": None if outlet_id is None else int(outlet_id),
              "p": None if promotion_id is None else int(promotion_id), **_position(lat, lng)}
    return _url(settings, REDIRECT_PATH, _token(settings, "redirect", fields, exp=exp, now=now))


def read_link(settings: Settings, token: str, kind: str, *, now: float | None = None) -> Link:
    """The verified content of a token of `kind`; LinkInvalid / LinkExpired otherwise."""
    payload = verify(token, settings.signing_key, now=now)
    if _KIND_NAME.get(payload.get("k")) != kind:
        raise LinkInvalid("This link is not valid.")
    link = Link(
        kind=kind, exp=payload["exp"],
        query_id=_opt(payload, "q", str), customer_hash=_opt(payload, "c", str),
        outlet_id=_opt(payload, "o", int), promotion_id=_opt(payload, "p", int),
        lat=_opt(payload, "la", float), lng=_opt(payload, "ln", float),
        target=_opt(payload, "t", str), source=_opt(payload, "s", str) or "wechat",
    )
    if kind == "redirect" and (link.target not in TARGETS or link.source not in SOURCES):
        raise LinkInvalid("This link is not valid.")
    if kind == "nearby" and (link.lat is None or link.lng is None):
        raise LinkInvalid("This link is not valid.")
    if kind == "outlet" and link.outlet_id is None:
        raise LinkInvalid("This link is not valid.")
    if kind == "coupon" and (link.promotion_id is None or link.customer_hash is None):
        raise LinkInvalid("This link is not valid.")
    return link


def _opt(payload: dict[str, Any], key: str, kind: type) -> Any:
    """A typed optional field; a signed token of the wrong shape is still refused."""
    value = payload.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str) and len(value) <= 64:
        return value
    raise LinkInvalid("This link is not valid.")
