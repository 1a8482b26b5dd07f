"""News cards for outlets: the one builder behind replies and the admin preview."""

from __future__ import annotations

from collections.abc import Sequence

from o2o.catalog.nearby import NearbyOutlet
from o2o.catalog.views import PromotionView
from o2o.config import Settings
from o2o.geo.distance import format_distance_zh
from o2o.wechat.replies import Article

#: Default covers served by the app: 360×200 for the big first card, 200×200 for the rest.
COVER_LARGE = "/static/wechat/cover-large.png"
COVER_SMALL = "/static/wechat/cover-small.png"


def outlet_article(item: NearbyOutlet, *, url: str, settings: Settings, first: bool = True,
                   promotion: PromotionView | None = None, notes: Sequence[str] = ()) -> Article:
    """The card for one outlet: distance and name, today's offer, hours, address, then any
    `notes` (a nearer outlet that is closed, where the distance was measured from)."""
    outlet = item.outlet
    promo = promotion if promotion is not None else (item.promotions[0] if item.promotions
                                                      else None)
    title = f"{outlet.name} · {format_distance_zh(item.distance_m)}"
    if first:
        title = f"离您最近：{title}"
    state = {True: "营业中", False: "休息中", None: ""}[item.open_now]
    # Closed now: when it opens matters more than today's full hours.
    when = outlet.next_change_text(item.at) if item.open_now is False else ""
    lines = []
    if promo is not None:
        lines.append(f"今日优惠：{promo.title}")
    lines.append(" ".join(part for part in (state, when or item.today) if part))
    if outlet.address:
        lines.append(outlet.address)
    lines += notes
    image = (promo.image_url if promo and promo.image_url else outlet.image_url) or \
        (COVER_LARGE if first else COVER_SMALL)
    return Article(title=title, description="\n".join(lines), pic_url=absolute(settings, image),
                   url=url)


def more_article(*, url: str, settings: Settings) -> Article:
    """The last card of an event reply: the full list on the H5 page."""
    return Article(title="查看附近更多门店、距离和导航", description="",
                   pic_url=absolute(settings, COVER_SMALL), url=url)


def absolute(settings: Settings, url: str) -> str:
    """Covers must be absolute URLs WeChat's servers can fetch."""
    if url.startswith(("http://", "https://")):
        return url
    return settings.public_base_url.rstrip("/") + "/" + url.lstrip("/")
