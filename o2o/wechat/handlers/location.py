"""'Where is the nearest outlet?': location messages, the menu's location picker and the
"附近门店" click all end here, and each answer is recorded as a query with its impressions."""

from __future__ import annotations

from datetime import datetime

from o2o.analytics.events import event_row
from o2o.catalog.nearby import NearbyResult, closed_nearer_text, find_nearby, nowhere_near_text
from o2o.customers.links import nearby_page_url, tracked_url
from o2o.customers.service import LastPosition, last_position, query_values
from o2o.wechat.articles import more_article, outlet_article
from o2o.wechat.context import HandlerContext
from o2o.wechat.parsing import Message
from o2o.wechat.registry import Registry
from o2o.wechat.replies import NewsReply, Reply, TextReply

NEARBY_KEYS = frozenset({"NEARBY", "NEARBY_SELECT"})
ASK_FOR_LOCATION = ("想知道离您最近的门店？请点输入框旁的「+」→「位置」发送您的位置，"
                    "或点菜单「附近门店」选择位置。")
NO_OUTLETS = "暂时没有营业中的门店，请稍后再试。"


def register(registry: Registry[HandlerContext]) -> None:
    registry.register("location", on_location_message)
    registry.register(("event", "location_select"), on_location_select)
    registry.register(("event", "click"), on_click, blocking=True)  # reads the last position


def on_location_message(message: Message, ctx: HandlerContext) -> Reply:
    """A shared position: one card (WeChat's limit for user messages) linking to the list."""
    return answer_nearby(message, ctx, message.latitude, message.longitude, articles=1)


def on_location_select(message: Message, ctx: HandlerContext) -> Reply:
    if not message.has_location:
        return TextReply(ASK_FOR_LOCATION)
    return answer_nearby(message, ctx, message.latitude, message.longitude,
                         articles=ctx.settings.wechat_news_articles)


def on_click(message: Message, ctx: HandlerContext) -> Reply | None:
    """Menu clicks: "附近门店" uses the last known position; offers are the text module's."""
    key = (message.event_key or "").upper()
    if key in NEARBY_KEYS:
        known = ctx.read(lambda s: last_position(s, customer_hash=ctx.customer_hash, now=ctx.now))
        if known is None:
            return TextReply(ASK_FOR_LOCATION)
        return answer_nearby(message, ctx, known.lat, known.lng, crs="wgs84",  # stored WGS-84
                             articles=ctx.settings.wechat_news_articles, remember=False,
                             note=measured_from_text(known, ctx.now))
    if key == "OFFERS":
        from o2o.wechat.handlers.text import answer_offers

        return answer_offers(message, ctx)
    return None


def answer_nearby(message: Message, ctx: HandlerContext, lat: float | None, lng: float | None,
                  *, articles: int, crs: str = "gcj02", remember: bool = True,
                  note: str = "") -> Reply:
    """Find, record and render the nearest outlets for one query (`find_nearby`'s rule:
    open ones first, and a word when a closed one is nearer). `note` says where the
    distances were measured from when it is not the position just shared."""
    if lat is None or lng is None:
        return TextReply(ASK_FOR_LOCATION)
    settings = ctx.settings
    # One more than fits tells whether a "more" card is needed.
    k = articles + 1 if articles > 1 else 1  # one card links to the list itself
    result = find_nearby(ctx.catalog, lat=lat, lng=lng, crs=crs, k=k,
                         radius_m=settings.wechat_radius_m, at=ctx.now)
    query_id = ctx.query_id(message)
    more = articles > 1 and len(result.results) > articles
    # A single card links to the full list itself; several end with a "more" card.
    shown = result.results[: articles - 1 if more else articles]
    _record(ctx, message, result, query_id, shown, remember)
    if not result.results:
        if result.nearest_outside is None:
            return TextReply(NO_OUTLETS)
        page = nearby_page_url(settings, query_id=query_id, customer_hash=ctx.customer_hash,
                               lat=result.lat, lng=result.lng)
        return TextReply(f'{nowhere_near_text(result.nearest_outside)}{note}\n'
                         f'<a href="{page}">查看门店详情和导航</a>')
    notes = [closed_nearer_text(result.closed_nearer)] if result.closed_nearer else []
    notes += [note] if note else []
    cards = []
    for rank, item in enumerate(shown):
        target = "nearby" if rank == 0 else "outlet"
        promo = item.promotions[0] if item.promotions else None
        where = {"lat": result.lat, "lng": result.lng} if target == "nearby" else {}
        url = tracked_url(settings, target=target, query_id=query_id,
                          customer_hash=ctx.customer_hash, outlet_id=item.outlet.id,
                          promotion_id=promo.id if promo else None, **where)
        cards.append(outlet_article(item, url=url, settings=settings, first=rank == 0,
                                    notes=notes if rank == 0 else ()))
    if more:
        url = tracked_url(settings, target="nearby", query_id=query_id,
                          customer_hash=ctx.customer_hash, lat=result.lat, lng=result.lng)
        cards.append(more_article(url=url, settings=settings))
    return NewsReply(cards)


def measured_from_text(known: LastPosition, now: datetime) -> str:
    """Distances from a stored position: say how old it is (and that it is not 'here')."""
    minutes = max(0, int((now - known.at).total_seconds() // 60))
    ago = f"{minutes} 分钟前" if minutes else "刚才"
    return f"距离按您{ago}的位置估算，不是您现在的位置。"


def _record(ctx: HandlerContext, message: Message, result: NearbyResult, query_id: str,
            shown: list, remember: bool) -> None:  # type: ignore[type-arg]
    """Queue the customer upsert and the query with its impressions (group commit). Retries
    hit the dedup keys and are skipped by the database.

    The first card is always the nearest outlet, the one the query row already names the
    region and distance of, so the query row also carries that outlet and its offer: it
    is the first card's impression too (`o2o.analytics.models.Event`), and a one-card
    reply writes one row. Later cards are impression rows of their own."""
    nearest = result.results[0] if result.results else result.nearest_outside
    place = {"lat": result.lat, "lng": result.lng, "ttl_s": ctx.settings.location_ttl_s} \
        if remember else {}
    first = shown[0] if shown else None
    rows = [event_row(
        type="query", customer_hash=ctx.customer_hash, query_id=query_id,
        region_id=nearest.outlet.region_id if nearest else None, lat=result.lat, lng=result.lng,
        distance_m=nearest.distance_m if nearest else None, at=ctx.now,
        outlet_id=first.outlet.id if first else None,
        promotion_id=first.promotions[0].id if first and first.promotions else None,
        dedup_key=f"query:{query_id}",
        props={"source": message.event or message.msg_type, "results": len(result.results)},
    )]
    rows += [event_row(
        type="impression", customer_hash=ctx.customer_hash, query_id=query_id,
        outlet_id=item.outlet.id, region_id=item.outlet.region_id, distance_m=item.distance_m,
        at=ctx.now, promotion_id=item.promotions[0].id if item.promotions else None,
        dedup_key=f"impression:{query_id}:{item.outlet.id}", props={"rank": rank},
    ) for rank, item in enumerate(shown[1:], start=1)]
    ctx.record(customer=query_values(customer_hash=ctx.customer_hash, now=ctx.now, **place),
               events=rows)
