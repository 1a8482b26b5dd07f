"""What the customer H5 pages show, as plain data: the web layer only renders it.

Each page is computed fresh from the live catalog (a link opened tomorrow shows tomorrow's
hours and offers) and every outward link on it is a tracked one (`source="h5"`). A page
opened from a forwarded copy (`link.shared`) shows the same outlets but acts for nobody: no
claiming, no impressions, and its links stay marked as shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event, EventType
from o2o.catalog.nearby import (
    LINKED_POINT_NOTE,
    NearbyOutlet,
    closed_nearer_text,
    find_nearby,
    nowhere_near_text,
)
from o2o.catalog.runtime import Catalog
from o2o.catalog.views import OutletView, PromotionView
from o2o.config import Settings
from o2o.coupons.models import Coupon
from o2o.customers.links import Link, coupon_page_url, tracked_url
from o2o.geo.datum import wgs84_to_gcj02
from o2o.geo.distance import format_distance_zh, haversine_m

#: Outlets on the nearby page: the WeChat reply shows one, the page shows the rest.
NEARBY_PAGE_K = 10


@dataclass(frozen=True, slots=True)
class OfferItem:
    title: str
    description: str
    #: POST target that claims this offer's coupon; None when no coupon (or no customer).
    claim_url: str | None = None
    #: The customer already holds this coupon: link to it instead of claiming again.
    held: bool = False


@dataclass(frozen=True, slots=True)
class OutletItem:
    id: int
    name: str
    address: str
    distance: str | None
    state: str  # 营业中 / 休息中 / 营业时间未知 / 暂停营业 ...
    open_now: bool | None
    today: str
    next_change: str
    page_url: str
    tencent_url: str
    amap_url: str
    tel_url: str | None
    offers: list[OfferItem] = field(default_factory=list)
    #: Where WeChat's own map (wx.openLocation) puts the outlet: (lat, lng) in GCJ-02.
    gcj02: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class NearbyPage:
    items: list[OutletItem]
    notice: str | None
    #: Where the distances are measured from, when that is not the customer's exact point.
    basis: str | None
    #: Claiming needs a customer; the demo page in production has none.
    can_claim: bool


def state_text(view: OutletView, open_now: bool | None) -> str:
    if view.status != "open":
        return "暂停营业" if view.status == "temporarily_closed" else "已停业"
    return {True: "营业中", False: "休息中", None: "营业时间未知"}[open_now]


def nearby_page(session: Session, *, settings: Settings, catalog: Catalog, link: Link,
                now: datetime) -> NearbyPage:
    """Re-run the query from the link's position, and note what was shown."""
    assert link.lat is not None and link.lng is not None
    result = find_nearby(catalog, lat=link.lat, lng=link.lng, crs="wgs84", k=NEARBY_PAGE_K,
                         radius_m=settings.wechat_radius_m, at=now)
    shown = result.results or ([result.nearest_outside] if result.nearest_outside else [])
    notice = closed_nearer_text(result.closed_nearer) if result.closed_nearer else None
    if not result.results:
        notice = nowhere_near_text(result.nearest_outside) if result.nearest_outside \
            else "暂时没有营业中的门店。"
    held = _held_promotions(session, link.viewer,
                            {p.id for item in shown for p in item.promotions})
    items = [_outlet_item(settings, link, item.outlet, item.distance_m, item.open_now,
                          item.today, item.promotions, held, now) for item in shown]
    _note_impressions(session, link, shown, now)
    return NearbyPage(items=items, notice=notice, basis=LINKED_POINT_NOTE,
                      can_claim=link.viewer is not None)


def outlet_page(session: Session, *, settings: Settings, catalog: Catalog, link: Link,
                now: datetime) -> OutletItem | None:
    """One outlet and its offers today; None when it is no longer listed."""
    view = catalog.outlet(link.outlet_id) if link.outlet_id is not None else None
    if view is None:
        return None
    distance = haversine_m(link.lat, link.lng, view.lat, view.lng) \
        if link.lat is not None and link.lng is not None else None
    promos = tuple(catalog.promotions_for(view, now)) if view.status == "open" else ()
    held = _held_promotions(session, link.viewer, {p.id for p in promos})
    return _outlet_item(settings, link, view, distance, view.is_open(now), view.today_text(now),
                        promos, held, now)


def _outlet_item(settings: Settings, link: Link, view: OutletView, distance_m: float | None,
                 open_now: bool | None, today: str, promos: tuple[PromotionView, ...],
                 held: set[int], now: datetime) -> OutletItem:
    def tracked(target: str, promotion_id: int | None = None) -> str:
        return tracked_url(settings, target=target, query_id=link.query_id,
                           customer_hash=link.customer_hash, outlet_id=view.id,
                           promotion_id=promotion_id, lat=link.lat, lng=link.lng, source="h5",
                           shared=link.shared, exp=link.exp)

    offers = []
    for promo in promos:
        claim_url = None
        if promo.coupon_enabled and link.viewer is not None:
            claim_url = coupon_page_url(settings, query_id=link.query_id,
                                        customer_hash=link.viewer,
                                        promotion_id=promo.id, outlet_id=view.id, exp=link.exp)
        offers.append(OfferItem(title=promo.title, description=promo.description,
                                claim_url=claim_url, held=promo.id in held))
    next_change = view.hours.next_change_text(now) if view.hours is not None and \
        view.status == "open" else ""
    return OutletItem(
        id=view.id, name=view.name, address=view.address,
        distance=format_distance_zh(distance_m) if distance_m is not None else None,
        state=state_text(view, open_now), open_now=open_now, today=today,
        next_change=next_change, page_url=tracked("outlet"),
        tencent_url=tracked("map:tencent"), amap_url=tracked("map:amap"),
        tel_url=tracked("tel") if any(ch.isdigit() for ch in view.phone) else None,
        offers=offers, gcj02=wgs84_to_gcj02(view.lat, view.lng))


def _held_promotions(session: Session, customer_hash: str | None,
                     promotion_ids: set[int]) -> set[int]:
    if customer_hash is None or not promotion_ids:
        return set()
    return set(session.scalars(sa.select(Coupon.promotion_id).distinct().where(
        Coupon.customer_hash == customer_hash, Coupon.promotion_id.in_(promotion_ids))))


def _note_impressions(session: Session, link: Link, shown: list[NearbyOutlet],
                      now: datetime) -> None:
    """Outlets listed on the page were shown to this customer (what visits are checked
    against); keyed like the reply's impressions, so a card and its list count once. The
    reply's first card is counted by its query row (`o2o.analytics.models.Event`), so the
    outlet that row names is not noted again. (A list opened before that row is stored,
    possible only when the reply went out after its write budget and the row came later,
    counts that outlet here and again there; with no query row the list counts it, as a
    reply whose rows were lost would otherwise leave it uncounted.)"""
    if link.query_id is None or link.viewer is None:
        return
    first = session.scalar(sa.select(Event.outlet_id)
                           .where(Event.dedup_key == f"query:{link.query_id}"))
    for rank, item in enumerate(shown):
        if item.outlet.id == first:
            continue
        record_event(session, type=EventType.IMPRESSION, customer_hash=link.viewer,
                     query_id=link.query_id, outlet_id=item.outlet.id,
                     region_id=item.outlet.region_id, distance_m=item.distance_m, at=now,
                     promotion_id=item.promotions[0].id if item.promotions else None,
                     channel="h5", dedup_key=f"impression:{link.query_id}:{item.outlet.id}",
                     props={"rank": rank})
