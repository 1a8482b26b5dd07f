"""Tracked clicks: a sealed `/r/<token>` link is counted once, then sent where it names.

The destination is built here from the sealed fields (a page of ours, a map app link in
GCJ-02, the outlet's phone number): the token names a kind, never a URL, so nothing a
customer or an attacker types can make this redirect point elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event, EventType
from o2o.catalog.nearby import map_links
from o2o.catalog.runtime import Catalog
from o2o.config import Settings
from o2o.customers.link_codec import fingerprint
from o2o.customers.links import (
    Link,
    coupon_page_url,
    nearby_page_url,
    outlet_page_url,
    read_link,
)
from o2o.customers.service import last_location
from o2o.errors import O2OError
from o2o.links import LinkInvalid

#: Taps on the same link within this many seconds count as one click.
CLICK_WINDOW_S = 10
_PHONE = re.compile(r"[^0-9+]")


class LinkGone(O2OError):
    """A genuine link whose outlet, offer or list no longer exists."""

    code = "link_gone"
    http_status = 410


@dataclass(frozen=True, slots=True)
class Followed:
    """Where to send the customer, and whether this tap was counted as a new click."""

    location: str
    counted: bool


def follow(session: Session, *, settings: Settings, catalog: Catalog, token: str,
           now: datetime, shared: bool = False) -> Followed:
    """Verify the token, build its destination, record the click (once per double tap).

    `shared`: the link was opened from a forwarded copy; the click is counted for nobody
    and the pages it leads to act for nobody.
    Raises LinkInvalid (400), LinkExpired (410) or LinkGone (410); nothing is recorded then.
    """
    link = read_link(settings, token, "redirect", now=now.timestamp())
    key = fingerprint(link)
    if shared:
        link = replace(link, shared=True)
    location = destination(session, settings=settings, catalog=catalog, link=link, now=now)
    outlet = catalog.outlet(link.outlet_id) if link.outlet_id is not None else None
    counted = _record_click(session, key=key, link=link, now=now,
                            region_id=outlet.region_id if outlet else None)
    return Followed(location=location, counted=counted)


def destination(session: Session, *, settings: Settings, catalog: Catalog, link: Link,
                now: datetime) -> str:
    """The URL a redirect link leads to, from its sealed fields only."""
    target = link.target
    if target == "nearby":
        position = _nearby_position(session, link, now)
        if position is None:
            raise LinkGone("这个门店列表已失效，请重新发送您的位置。")
        url = nearby_page_url(settings, query_id=link.query_id,
                              customer_hash=link.customer_hash, lat=position[0],
                              lng=position[1], shared=link.shared, exp=link.exp)
        return url + (f"#o{link.outlet_id}" if link.outlet_id is not None else "")
    if target == "coupon":
        if link.promotion_id is None or link.customer_hash is None:  # sealed by us, but odd
            raise LinkInvalid("这个链接不完整，请从聊天里重新打开。")
        if catalog.promotion(link.promotion_id) is None:
            raise LinkGone("这个优惠已结束。")
        return coupon_page_url(settings, query_id=link.query_id, customer_hash=link.customer_hash,
                               promotion_id=link.promotion_id, outlet_id=link.outlet_id,
                               shared=link.shared, exp=link.exp)
    view = catalog.outlet(link.outlet_id) if link.outlet_id is not None else None
    if view is None:
        raise LinkGone("这家门店已不在列表中。")
    if target == "outlet":
        return outlet_page_url(settings, query_id=link.query_id, customer_hash=link.customer_hash,
                               outlet_id=view.id, lat=link.lat, lng=link.lng,
                               shared=link.shared, exp=link.exp)
    if target in ("map:tencent", "map:amap"):
        return map_links(view)[target.removeprefix("map:")]
    phone = _PHONE.sub("", view.phone)
    if target == "tel" and phone:
        return f"tel:{phone}"
    raise LinkGone("这家门店暂未提供电话。")


def _nearby_position(session: Session, link: Link, now: datetime) -> tuple[float, float] | None:
    """The query's own position when the link carries it; else the query's recorded (coarse)
    position; else the customer's last known one (never for a forwarded copy: that would
    tell the reader where the customer went since)."""
    if link.lat is not None and link.lng is not None:
        return link.lat, link.lng
    if link.query_id:
        row = session.execute(
            sa.select(Event.lat, Event.lng)
            .where(Event.query_id == link.query_id, Event.type == EventType.QUERY,
                   Event.lat.is_not(None)).limit(1)).first()
        if row is not None:
            return row.lat, row.lng
    if link.viewer:
        return last_location(session, customer_hash=link.viewer, now=now)
    return None


def _record_click(session: Session, *, key: str, link: Link, now: datetime,
                  region_id: int | None) -> bool:
    """One click per link per CLICK_WINDOW_S: the dedup key names the link's decoded content
    (however the token was sealed or spelt) and the window, and a tap just after a window
    boundary checks the previous window's click too. A forwarded copy's click is a click,
    but nobody's: neither the customer's nor their query's."""
    bucket = int(now.timestamp() // CLICK_WINDOW_S)
    previous = session.scalar(sa.select(Event.occurred_at)
                              .where(Event.dedup_key == f"click:{key}:{bucket - 1}"))
    if previous is not None and now - previous < timedelta(seconds=CLICK_WINDOW_S):
        return False
    return record_event(
        session, type=EventType.CLICK, customer_hash=link.viewer,
        query_id=None if link.shared else link.query_id,
        outlet_id=link.outlet_id, promotion_id=link.promotion_id, region_id=region_id, at=now,
        channel=link.source or "wechat", dedup_key=f"click:{key}:{bucket}",
        props={"target": link.target})
