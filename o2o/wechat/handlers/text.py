"""Typed questions: "附近", "优惠", a city, district or outlet name; anything else gets help."""

from __future__ import annotations

import html

from o2o.catalog.nearby import find_nearby
from o2o.catalog.search import Found, search_outlets
from o2o.customers.links import nearby_page_url, tracked_url
from o2o.customers.service import last_position
from o2o.geo.distance import format_distance_zh
from o2o.wechat.context import HandlerContext
from o2o.wechat.handlers.location import ASK_FOR_LOCATION, measured_from_text
from o2o.wechat.parsing import Message
from o2o.wechat.registry import Registry
from o2o.wechat.replies import Reply, TextReply

NEAR_WORDS = ("附近", "门店", "最近", "在哪", "地址", "nearby", "store")
OFFER_WORDS = ("优惠", "活动", "折扣", "券", "offer")
SEARCH_LIMIT = 5
#: The polite answer once a customer has typed too many searches (a WeChat reply must be
#: a message, never an HTTP error: WeChat would show "该公众号暂时无法提供服务").
TOO_MANY_SEARCHES = "您查找得有点频繁，请稍等一分钟再试。发送位置（「+」→「位置」）可直接看到离您最近的门店。"


def register(registry: Registry[HandlerContext]) -> None:
    registry.register("text", on_text, blocking=True)  # "优惠" reads the last position


def help_text(brand: str) -> str:
    return (f"您好，这里是{brand}门店助手：\n"
            "· 发送位置（「+」→「位置」）：离您最近的门店和今日优惠\n"
            "· 发送城市、区名或门店名：查找门店\n"
            "· 发送「优惠」：您附近正在进行的活动")


def on_text(message: Message, ctx: HandlerContext) -> Reply:
    content = (message.content or "").strip()
    lowered = content.lower()
    if not content:
        return TextReply(help_text(ctx.settings.brand_name))
    if any(word in lowered for word in OFFER_WORDS):
        return answer_offers(message, ctx)
    if ctx.searches is not None and not ctx.searches.hit(ctx.customer_hash):
        return TextReply(TOO_MANY_SEARCHES)
    found = search_outlets(ctx.catalog, content[:40], limit=SEARCH_LIMIT)
    if found.total:
        return _list_matches(ctx, content, found)
    if any(word in lowered for word in NEAR_WORDS):
        return TextReply(ASK_FOR_LOCATION)
    return TextReply(help_text(ctx.settings.brand_name))


def _list_matches(ctx: HandlerContext, asked: str, found: Found) -> Reply:
    lines = [f"找到 {found.total} 家与「{asked[:20]}」相关的门店：" if found.total > 1
             else "为您找到这家门店："]
    for view in found.first:
        url = tracked_url(ctx.settings, target="outlet", query_id=None,
                          customer_hash=ctx.customer_hash, outlet_id=view.id)
        hours = view.today_text(ctx.now)
        lines.append(f'· <a href="{url}">{html.escape(view.name)}</a> {view.district} {hours}')
    if found.total > SEARCH_LIMIT:
        lines.append("发送位置，看离您最近的几家。")
    return TextReply("\n".join(lines))


def answer_offers(message: Message, ctx: HandlerContext) -> Reply:
    """Offers running now at the outlets near the customer's last known position."""
    known = ctx.read(lambda s: last_position(s, customer_hash=ctx.customer_hash, now=ctx.now))
    if known is None:
        return TextReply("发送您的位置（「+」→「位置」），我们告诉您附近门店正在进行的优惠。")
    result = find_nearby(ctx.catalog, lat=known.lat, lng=known.lng, crs="wgs84", k=5,
                         radius_m=ctx.settings.wechat_radius_m, at=ctx.now)
    seen: set[int] = set()
    lines = []
    for item in result.results:
        for promo in item.promotions:
            if promo.id in seen:
                continue
            seen.add(promo.id)
            lines.append(f"· {promo.title}（{item.outlet.name}，"
                         f"{format_distance_zh(item.distance_m)}）")
    if not lines:
        return TextReply("您附近的门店现在没有进行中的优惠。")
    page = nearby_page_url(ctx.settings, query_id=ctx.query_id(message),
                           customer_hash=ctx.customer_hash, lat=result.lat, lng=result.lng)
    return TextReply("您附近正在进行的优惠：\n" + "\n".join(lines[:6]) +
                     f"\n{measured_from_text(known, ctx.now)}" +
                     f'\n<a href="{page}">查看门店和导航</a>')
