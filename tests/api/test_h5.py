"""The customer H5 pages over HTTP: content, claiming, friendly refusals, same-origin only."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event
from o2o.catalog.models import Promotion
from o2o.coupons.models import Coupon
from o2o.customers.links import coupon_page_url, nearby_page_url, outlet_page_url
from tests.factories import make_outlet, make_promotion
from tests.factories_loop import a_customer, make_coupon_promotion

QID = "e" * 32
#: On the ~100 m grid a link keeps of a position, so the distances below are exact.
HERE = (31.230, 121.474)
SHARED = "?from=singlemessage&isappinstalled=0"
CLOSED_ALL_WEEK = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def shop(session: Session, services):  # type: ignore[no-untyped-def]
    near = make_outlet(session, lat=HERE[0] + 0.00315, lng=HERE[1], name="人民广场店",
                       phone="021-6123 4567", address="南京西路 1 号")
    far = make_outlet(session, lat=HERE[0] + 0.02, lng=HERE[1], name="静安寺店",
                      hours=CLOSED_ALL_WEEK)
    promo = make_coupon_promotion(session, title="第二杯半价", description="任意饮品",
                                  outlets=[near], total=1)
    plain = make_promotion(session, title="会员日", outlets=[far])
    session.commit()
    services.catalog.refresh()
    return {"near": near, "far": far, "promo": promo, "plain": plain}


def _hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src)="([^"]*)"', html)


def test_nearby_page_lists_outlets_with_everything_a_customer_needs(client, services, shop,  # type: ignore[no-untyped-def]
                                                                    session: Session) -> None:
    who = a_customer()
    url = nearby_page_url(services.settings, query_id=QID, customer_hash=who, lat=HERE[0],
                          lng=HERE[1])
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    assert html.index("人民广场店") < html.index("静安寺店")
    assert "350 米" in html and "2.2 公里" in html
    assert "营业中" in html and "24 小时营业" in html
    assert "休息中" in html and "今日休息" in html
    assert "第二杯半价" in html and "领取优惠券" in html and "会员日" in html
    assert "导航" in html and "腾讯地图" in html and "高德地图" in html
    assert html.count("拨打电话") == 1  # only the outlet that has a phone
    # Same-origin only: every link, form and asset is a path on this site.
    assert all(h.startswith("/") and not h.startswith("//") for h in _hrefs(html))
    assert "http" not in html.replace('http-equiv', '')
    # The outlets listed count as shown to this customer, once each per query.
    client.get(url)
    shown = session.scalars(sa.select(Event).where(Event.type == "impression")).all()
    assert sorted(e.outlet_id for e in shown) == sorted([shop["near"].id, shop["far"].id])
    session.rollback()
    assert {(e.query_id, e.customer_hash, e.channel) for e in shown} == {(QID, who, "h5")}


def test_pages_are_private_and_strict(client, services, shop) -> None:  # type: ignore[no-untyped-def]
    url = nearby_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                          lat=HERE[0], lng=HERE[1])
    for target in (url, url[:-4]):
        headers = client.get(target).headers
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in headers["content-security-policy"]


def test_stylesheet_is_served_from_here(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/static/h5/h5.css")
    assert r.status_code == 200 and "http" not in r.text and "@import" not in r.text


@pytest.mark.parametrize("kind", ["nearby", "outlet", "coupon"])
def test_tampered_and_truncated_links_get_a_friendly_400(client, services, shop,  # type: ignore[no-untyped-def]
                                                          kind: str) -> None:
    url = {
        "nearby": nearby_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                                  lat=HERE[0], lng=HERE[1]),
        "outlet": outlet_page_url(services.settings, query_id=QID, customer_hash=None,
                                  outlet_id=shop["near"].id),
        "coupon": coupon_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                                  promotion_id=shop["promo"].id),
    }[kind]
    for bad in (url[:-8] + url[-8:][::-1], url[:-10], url + "AAAA", url.replace(f"/h5/{kind}/", "/h5/"
                + {"nearby": "outlet", "outlet": "coupon", "coupon": "nearby"}[kind] + "/"),
                f"/h5/{kind}/%00%ff", f"/h5/{kind}/" + "A" * 5000):
        r = client.get(bad)
        assert r.status_code in (400, 404), bad
        assert r.headers["content-type"].startswith("text/html")
        if r.status_code == 400:
            assert "链接无效" in r.text


def test_expired_link_gets_a_friendly_410(client, services, shop) -> None:  # type: ignore[no-untyped-def]
    old = time.time() - services.settings.link_ttl_s - 10
    url = nearby_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                          lat=HERE[0], lng=HERE[1], now=old)
    r = client.get(url)
    assert r.status_code == 410 and "链接已过期" in r.text and "重新发送" in r.text


def test_outlet_page_shows_its_offers_and_distance(client, services, shop) -> None:  # type: ignore[no-untyped-def]
    url = outlet_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                          outlet_id=shop["near"].id, lat=HERE[0], lng=HERE[1])
    html = client.get(url).text
    assert "人民广场店" in html and "350 米" in html and "第二杯半价" in html
    assert "会员日" not in html  # that one runs at the other outlet


def test_outlet_page_for_an_outlet_since_removed(client, services, shop, session: Session) -> None:  # type: ignore[no-untyped-def]
    gone = make_outlet(session, deleted_at=shop["near"].created_at)
    session.commit()
    services.catalog.refresh()
    r = client.get(outlet_page_url(services.settings, query_id=None, customer_hash=None,
                                   outlet_id=gone.id))
    assert r.status_code == 410 and "门店已下线" in r.text


def test_claim_shows_the_code_and_qr_and_a_reload_does_not_claim_again(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    who = a_customer()
    url = coupon_page_url(services.settings, query_id=QID, customer_hash=who,
                          promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
    before = client.get(url)
    assert before.status_code == 200 and "领取优惠券" in before.text
    r = client.post(url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?claimed=1")
    page = client.get(r.headers["location"]).text
    code = session.scalars(sa.select(Coupon.code)).one()
    session.rollback()  # SQLite: a reading test session must not hold the write lock
    assert f"{code[:5]}-{code[5:]}" in page and "<svg" in page and "领取成功" in page
    assert "可使用" in page and "到店出示给店员核销" in page
    assert f"{code[:5]}-{code[5:]}" in client.get(url).text  # and on coming back
    again = client.post(url, follow_redirects=False)  # double tap: shows the same coupon
    assert again.status_code == 303
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
    claims = session.scalars(sa.select(Event).where(Event.type == "claim")).all()
    assert [(e.query_id, e.customer_hash, e.outlet_id) for e in claims] == \
        [(QID, who, shop["near"].id)]


def test_sold_out_is_a_friendly_409_and_writes_nothing(client, services, shop,  # type: ignore[no-untyped-def]
                                                       session: Session) -> None:
    first, second = a_customer(), a_customer()
    for who, status in ((first, 303), (second, 409)):
        url = coupon_page_url(services.settings, query_id=QID, customer_hash=who,
                              promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
        r = client.post(url, follow_redirects=False)
        assert r.status_code == status
    assert "已经领完" in r.text and r.headers["content-type"].startswith("text/html")
    session.expire_all()
    assert session.scalar(sa.select(Promotion.coupon_claimed)
                          .where(Promotion.id == shop["promo"].id)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1


def test_offer_without_coupons_cannot_be_claimed(client, services, shop,  # type: ignore[no-untyped-def]
                                                 session: Session) -> None:
    url = coupon_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                          promotion_id=shop["plain"].id, outlet_id=shop["far"].id)
    page = client.get(url)
    assert page.status_code == 200 and "领取优惠券" not in page.text
    r = client.post(url)
    assert r.status_code == 409 and "暂时不能领取" in r.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 0


def test_demo_entry_opens_the_nearby_page(client, shop) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/h5/demo", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("/h5/nearby/")
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "人民广场店" in page.text and "领取优惠券" in page.text


def test_outlet_and_coupon_pages_open_while_another_transaction_writes(  # type: ignore[no-untyped-def]
        client, services, shop) -> None:
    who = a_customer()
    urls = [outlet_page_url(services.settings, query_id=QID, customer_hash=who,
                            outlet_id=shop["near"].id, lat=HERE[0], lng=HERE[1]),
            coupon_page_url(services.settings, query_id=QID, customer_hash=who,
                            outlet_id=shop["near"].id, promotion_id=shop["promo"].id)]
    holder = services.engine.connect()
    holder.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock, as an import would hold it
    try:
        if services.engine.dialect.name == "sqlite":
            holder.execute(sa.text("UPDATE regions SET name = name"))
        # Queued for the lock, a page would fail after the 30 s busy timeout.
        replies = [client.get(url) for url in urls]
    finally:
        holder.rollback()
        holder.close()
    assert [r.status_code for r in replies] == [200, 200]
    assert "人民广场店" in replies[0].text and "第二杯半价" in replies[1].text


def test_a_coupon_code_is_shown_only_in_the_browser_that_claimed_it(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    """The link may be forwarded; the code may not: another browser, or this one on a copy
    opened from a share, sees the coupon's status and why its code is not there."""
    url = coupon_page_url(services.settings, query_id=QID, customer_hash=a_customer(),
                          promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
    r = client.post(url, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/h5/coupon/" in cookie
    assert "Max-Age=" in cookie and "Secure" not in cookie  # served over http in the test
    code = session.scalars(sa.select(Coupon.code)).one()
    session.rollback()
    shown = f"{code[:5]}-{code[5:]}"
    assert shown in client.get(url).text

    forwarded = client.get(url + SHARED)
    assert forwarded.status_code == 200
    assert shown not in forwarded.text and "<svg" not in forwarded.text
    assert "可使用" in forwarded.text and "从分享打开" in forwarded.text
    assert "领取优惠券" not in forwarded.text and "再领一张" not in forwarded.text

    mine = dict(client.cookies)
    for jar in ({}, {"o2o_coupons": "A" * 60}, {"o2o_coupons": mine["o2o_coupons"][:-3]}):
        client.cookies.clear()
        client.cookies.update(jar)
        other = client.get(url)
        assert other.status_code == 200 and shown not in other.text and "<svg" not in other.text
        assert "可使用" in other.text and "只在领取它的手机微信中显示" in other.text
        assert "到店出示给店员核销" not in other.text


def test_a_forwarded_page_claims_for_nobody(client, services, shop,  # type: ignore[no-untyped-def]
                                           session: Session) -> None:
    who = a_customer()
    coupon = coupon_page_url(services.settings, query_id=QID, customer_hash=who,
                             promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
    refused = client.post(coupon + SHARED, follow_redirects=False)
    assert refused.status_code == 403 and "不能在这里领取" in refused.text
    assert "set-cookie" not in refused.headers
    nearby = client.get(nearby_page_url(services.settings, query_id=QID, customer_hash=who,
                                        lat=HERE[0], lng=HERE[1]) + SHARED)
    assert nearby.status_code == 200 and "第二杯半价" in nearby.text
    assert "领取优惠券" not in nearby.text and "发送您的位置" in nearby.text
    outlet = client.get(outlet_page_url(services.settings, query_id=QID, customer_hash=who,
                                        outlet_id=shop["near"].id) + SHARED)
    assert outlet.status_code == 200 and "领取优惠券" not in outlet.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_the_list_does_not_count_again_the_card_its_query_row_counts(client, services, shop,  # type: ignore[no-untyped-def]
                                                                     session: Session) -> None:
    """The reply's query row is its first card's impression too: opening the list shows that
    outlet once more but counts only the others."""
    who = a_customer()
    record_event(session, type="query", customer_hash=who, query_id=QID,
                 outlet_id=shop["near"].id, region_id=shop["near"].region_id, lat=HERE[0],
                 lng=HERE[1], dedup_key=f"query:{QID}")
    session.commit()
    url = nearby_page_url(services.settings, query_id=QID, customer_hash=who, lat=HERE[0],
                          lng=HERE[1])
    assert client.get(url).status_code == 200
    client.get(url)
    rows = session.scalars(sa.select(Event).order_by(Event.id)).all()
    assert [(e.type, e.outlet_id) for e in rows] == [
        ("query", shop["near"].id), ("impression", shop["far"].id)]
