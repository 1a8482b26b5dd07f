""""Which outlets are nearest to me, and how far": the query every channel shares.

One rule decides "nearest" for the chat reply, the nearby API, the H5 pages and the demo:

- the query point is converted to WGS-84 (WeChat and Chinese maps send GCJ-02) and kept to
  `POSITION_DECIMALS` (~10 m); a page opened from a reply's link measures from the link's
  ~100 m point and says so, since a forwarded link must not give the place away;
- distances are great-circle on the index's sphere, shown through `format_distance_zh`;
- outlets open now (or with unknown hours) within `PREFER_OPEN_WITHIN_M` come first, nearest
  first; the rest follow by distance, marked closed. When a closed outlet is nearer than the
  first one listed, `closed_nearer` names it so every surface can say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from o2o.catalog.runtime import Catalog
from o2o.catalog.views import OutletView, PromotionView, outlet_dict
from o2o.errors import ValidationError
from o2o.geo.datum import Datum, from_wgs84, to_wgs84
from o2o.geo.distance import format_distance_zh

MAX_K = 50
#: Decimals of the WGS-84 query point (4 is ~10 m, below GPS noise). A page opened from a
#: link measures from the link's coarser point (o2o.customers.identity.COARSE_DECIMALS: a
#: forwarded link must not give the place away) and says so (`LINKED_POINT_NOTE`).
POSITION_DECIMALS = 4
LINKED_POINT_NOTE = "距离从您分享的位置附近（100 米内）算起：链接里不带您的精确位置，与聊天回复可能略有出入。"
#: An outlet open now within this distance is a better answer than a nearer closed one.
PREFER_OPEN_WITHIN_M = 10_000.0


@dataclass(frozen=True, slots=True)
class NearbyOutlet:
    outlet: OutletView
    distance_m: float
    open_now: bool | None
    today: str
    promotions: tuple[PromotionView, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class NearbyResult:
    """Outlets in order; when a radius left nothing, `nearest_outside` says where to go."""

    lat: float  # the query point, WGS-84
    lng: float
    at: datetime
    results: list[NearbyOutlet] = field(default_factory=list)
    nearest_outside: NearbyOutlet | None = None
    #: The nearest outlet, closed right now, when it is nearer than the first result.
    closed_nearer: NearbyOutlet | None = None


def validate_point(lat: float, lng: float, crs: str) -> Datum:
    """Reject what cannot be a position, with a sentence a developer can act on."""
    problems = []
    if not (lat == lat and -90.0 <= lat <= 90.0):  # NaN fails the first test
        problems.append({"field": "lat", "message": "latitude must be a number in -90..90"})
    if not (lng == lng and -180.0 <= lng <= 180.0):
        problems.append({"field": "lng", "message": "longitude must be a number in -180..180"})
    try:
        datum = Datum(str(crs).lower())
    except ValueError:
        problems.append({"field": "crs", "message": "crs must be one of wgs84, gcj02, bd09"})
        datum = Datum.WGS84
    if problems:
        raise ValidationError("; ".join(f"{p['field']}: {p['message']}" for p in problems),
                              details=problems)
    return datum


def find_nearby(
    catalog: Catalog,
    *,
    lat: float,
    lng: float,
    crs: str = "gcj02",
    k: int = 5,
    radius_m: float | None = None,
    open_now: bool = False,
    tags: frozenset[str] | None = None,
    at: datetime | None = None,
) -> NearbyResult:
    """The k nearest outlets open for business by the module's rule, with today's offers;
    `open_now` keeps only those open right now."""
    datum = validate_point(lat, lng, crs)
    if not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be between 1 and {MAX_K}",
                              details=[{"field": "k", "message": f"must be 1..{MAX_K}"}])
    if radius_m is not None and not radius_m > 0:
        raise ValidationError("radius_m must be positive",
                              details=[{"field": "radius_m", "message": "must be > 0"}])
    at = at or datetime.now(UTC)
    wlat, wlng = (round(v, POSITION_DECIMALS) for v in to_wgs84(lat, lng, datum))
    tags = tags or None
    near = catalog.index.nearest(wlat, wlng, k, max_distance_m=radius_m, tags=tags)
    # "Open now" searches the index of this minute's open outlets: exact, and no hours
    # check per outlet, however little is open (see o2o.catalog.open_now).
    open_index = catalog.open_index(at)
    if open_now:
        hits = open_index.nearest(wlat, wlng, k, max_distance_m=radius_m, tags=tags)
    else:
        within = PREFER_OPEN_WITHIN_M if radius_m is None else min(radius_m,
                                                                   PREFER_OPEN_WITHIN_M)
        hits = open_index.nearest(wlat, wlng, k, max_distance_m=within, tags=tags)
        # Outlets with unknown hours are not known to be closed: among the k nearest they
        # rank with the open ones. The k nearest overall then fill what is left, in order.
        unknown = [h for h in near if h.distance_m <= within
                   and (view := catalog.outlet(h.id)) is not None and view.is_open(at) is None]
        hits = sorted([*hits, *unknown], key=lambda h: h.distance_m)[:k]
        listed = {h.id for h in hits}
        hits += [h for h in near if h.id not in listed][: k - len(hits)]
    results = [_item(catalog, h.id, h.distance_m, at) for h in hits
               if catalog.outlet(h.id) is not None]
    closed_nearer = None
    if results and near and near[0].distance_m < results[0].distance_m \
            and _opening(catalog, at, strict=False)(near[0].id) is False \
            and catalog.outlet(near[0].id) is not None:
        closed_nearer = _item(catalog, near[0].id, near[0].distance_m, at)
    if not results and radius_m is not None:
        beyond = (open_index if open_now else catalog.index).nearest(wlat, wlng, 1, tags=tags)
        if beyond and catalog.outlet(beyond[0].id) is not None:
            return NearbyResult(lat=wlat, lng=wlng, at=at,
                                nearest_outside=_item(catalog, beyond[0].id,
                                                      beyond[0].distance_m, at))
    return NearbyResult(lat=wlat, lng=wlng, at=at, results=results, closed_nearer=closed_nearer)


def _opening(catalog: Catalog, at: datetime, *, strict: bool) -> Callable[[int], bool]:
    """Open at `at` (strict), or not known to be closed (hours unknown count as open)."""
    def predicate(oid: int) -> bool:
        view = catalog.outlet(oid)
        if view is None:
            return False
        state = view.is_open(at)
        return state is True if strict else state is not False
    return predicate


def _item(catalog: Catalog, outlet_id: int, distance_m: float, at: datetime) -> NearbyOutlet:
    view = catalog.outlet(outlet_id)
    assert view is not None
    return NearbyOutlet(outlet=view, distance_m=distance_m, open_now=view.is_open(at),
                        today=view.today_text(at),
                        promotions=tuple(catalog.promotions_for(view, at)), at=at)


def nowhere_near_text(item: NearbyOutlet) -> str:
    """'The nearest outlet is in 杭州, 168 公里 away' for an empty radius."""
    where = item.outlet.city or item.outlet.district or item.outlet.address
    return (f"附近没有门店。离您最近的是{where}的{item.outlet.name}，"
            f"距离 {format_distance_zh(item.distance_m)}。")


def closed_nearer_text(item: NearbyOutlet) -> str:
    """'南京东路二店更近（400 米），现在休息中，明天 08:00 开门。'"""
    when = item.outlet.next_change_text(item.at)
    return (f"{item.outlet.name}更近（{format_distance_zh(item.distance_m)}），现在休息中"
            f"{'，' + when if when else ''}。")


def map_links(view: OutletView) -> dict[str, str]:
    """Links for Chinese map apps, which expect GCJ-02 (converted back from WGS-84)."""
    glat, glng = from_wgs84(view.lat, view.lng, Datum.GCJ02)
    name, addr = quote(view.name), quote(view.address or view.name)
    return {
        "tencent": (f"https://apis.map.qq.com/uri/v1/marker?marker=coord:{glat:.6f},{glng:.6f}"
                    f";title:{name};addr:{addr}&referer=o2o"),
        "amap": (f"https://uri.amap.com/marker?position={glng:.6f},{glat:.6f}&name={name}"
                 f"&src=o2o&coordinate=gaode&callnative=1"),
    }


def item_json(item: NearbyOutlet, crs: Datum | str) -> dict[str, Any]:
    """One result as the public API shows it, coordinates in the caller's datum."""
    lat, lng = from_wgs84(item.outlet.lat, item.outlet.lng, crs)
    data = outlet_dict(item.outlet)
    data.update(
        distance_m=round(item.distance_m, 1),
        distance_text=format_distance_zh(item.distance_m),
        lat=round(lat, 7), lng=round(lng, 7), crs=str(Datum(crs)),
        open_now=item.open_now, today_hours=item.today,
        promotions=[promotion_json(p) for p in item.promotions],
        map_links=map_links(item.outlet),
    )
    return data


def promotion_json(p: PromotionView) -> dict[str, Any]:
    return {"id": p.id, "code": p.code, "title": p.title, "description": p.description,
            "image_url": p.image_url, "link_url": p.link_url, "priority": p.priority,
            "coupon": p.coupon_enabled}


def result_json(result: NearbyResult, crs: Datum | str) -> dict[str, Any]:
    body: dict[str, Any] = {"results": [item_json(i, crs) for i in result.results]}
    if result.nearest_outside is not None:
        body["nearest_outside_radius"] = item_json(result.nearest_outside, crs)
        body["message"] = nowhere_near_text(result.nearest_outside)
    if result.closed_nearer is not None:
        body["closed_nearer"] = item_json(result.closed_nearer, crs)
        body["message"] = closed_nearer_text(result.closed_nearer)
    return body
