"""Preview a promotion as the WeChat card a customer near an outlet would get.

The card comes from the same builder as the real location reply (o2o.wechat.articles) and
is rendered by the same renderer, then read back, so titles and descriptions are exactly
what WeChat receives, trimmed in UTF-8 bytes where they run long. Two honest differences:
the distance is the one asked for (a real reply uses the customer's), and the link opens the
outlet page directly, because a preview must not count as a customer's click.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from defusedxml import ElementTree
from sqlalchemy.orm import Session

from o2o.catalog.admin_outlets import scoped_outlets
from o2o.catalog.admin_promotions import get_promotion
from o2o.catalog.models import Outlet, PromotionStatus
from o2o.catalog.nearby import NearbyOutlet
from o2o.catalog.runtime import Catalog
from o2o.catalog.views import OutletView, PromotionView, outlet_view, promotion_view
from o2o.config import Settings
from o2o.customers.links import outlet_page_url
from o2o.db.schema import utcnow
from o2o.staff.policy import not_found
from o2o.staff.principal import Principal
from o2o.wechat.articles import outlet_article
from o2o.wechat.replies import NewsReply, render

PREVIEW_USER, PREVIEW_ACCOUNT = "PREVIEW", "gh_preview"


@dataclass(frozen=True, slots=True)
class Preview:
    outlet: str
    promotion: str
    title: str
    description: str
    pic_url: str
    url: str
    xml: str
    #: Would a customer near this outlet get this offer on the card right now?
    shown_now: bool
    #: Why not, in words (empty when shown_now).
    reasons: tuple[str, ...]


def preview_promotion(session: Session, *, principal: Principal, promotion_id: int,
                      outlet_code: str, settings: Settings, catalog: Catalog,
                      distance_m: float = 300.0, now: datetime | None = None) -> Preview:
    """The exact card for `outlet_code` carrying this promotion, and whether it shows now."""
    row = get_promotion(session, principal=principal, promotion_id=promotion_id)
    outlet_row = session.scalar(scoped_outlets(principal).where(Outlet.code == outlet_code))
    if outlet_row is None:
        raise not_found("outlet", repr(outlet_code))
    now = now or utcnow()
    outlet = outlet_view(outlet_row)
    promo = promotion_view(row)
    item = NearbyOutlet(outlet=outlet, distance_m=distance_m, open_now=outlet.is_open(now),
                        today=outlet.today_text(now), promotions=(promo,), at=now)
    url = outlet_page_url(settings, query_id=None, customer_hash=None, outlet_id=outlet.id)
    article = outlet_article(item, url=url, settings=settings, first=True, promotion=promo)
    xml = render(NewsReply([article]), to_user=PREVIEW_USER, from_user=PREVIEW_ACCOUNT,
                 create_time=int(now.timestamp()))
    card = ElementTree.fromstring(xml).find("Articles/item")
    reasons = _reasons(row.status, promo, outlet, catalog, now)
    return Preview(outlet=outlet.code, promotion=row.code, title=card.findtext("Title", ""),
                   description=card.findtext("Description", ""),
                   pic_url=card.findtext("PicUrl", ""), url=card.findtext("Url", ""), xml=xml,
                   shown_now=not reasons, reasons=tuple(reasons))


def _reasons(status: PromotionStatus, promo: PromotionView, outlet: OutletView,
             catalog: Catalog, now: datetime) -> list[str]:
    reasons = []
    if status is not PromotionStatus.PUBLISHED:
        reasons.append(f"it is {status}: customers see only published offers")
    if not promo.applies_to(outlet):
        reasons.append("it does not reach this outlet")
    if not promo.is_active(now, outlet.timezone):
        reasons.append(f"it is outside its schedule now ({promo.schedule.describe()})")
    if outlet.status != "open":
        reasons.append(f"the outlet is {outlet.status}: it is not offered to customers")
    if not reasons:
        first = next(iter(catalog.promotions_for(outlet, now)), None)
        if first is not None and first.id != promo.id:
            reasons.append(f"{first.code} has a higher priority and shows instead")
    return reasons

