"""The admin API and the WeChat reply agree: what staff publish is the next customer's card,
and the preview is that card, byte for byte."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from o2o.geo.datum import Datum, from_wgs84
from o2o.geo.distance import haversine_m
from o2o.staff.models import Role
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_staff import bearer, make_token

TOKEN, APPID = "test-token", "wxtestappid0001"  # the `settings` fixture's WeChat account
OUTLET = (31.2310, 121.4740)  # WGS-84
CUSTOMER = (31.2304, 121.4737)  # WGS-84, about 70 m away
_msg_ids = itertools.count(5000)
#: Longer than a card title may be (128 bytes): the reply and the preview must cut it alike.
LONG_NAME = "人民广场旗舰店（南京东路步行街与西藏中路交叉口东北角，地铁人民广场站十九号口出）"


@pytest.fixture
def shop(services):
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        a = make_outlet(s, code="A", name=LONG_NAME, region=east, lat=OUTLET[0], lng=OUTLET[1],
                        address="南京东路 1 号")
        token = make_token(s, Role.STAFF, outlets=[a])
    services.catalog.load()
    return bearer(token)


def card(client) -> dict[str, str]:
    """Share a location in chat (安全模式, as WeChat sends it) and read the one card."""
    glat, glng = from_wgs84(*CUSTOMER, Datum.GCJ02)
    xml = location_xml(glat, glng, from_user="oCustomer", msg_id=next(_msg_ids))
    query, body = build_request(xml, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
    r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200, r.text
    reply = decode_reply(r.content, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID,
                         encrypted=True)
    assert reply.kind == "news"
    (article,) = reply.articles
    return dict(article)


def other_weekdays() -> list[int]:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).isoweekday()
    return [d for d in range(1, 8) if d not in (today, today % 7 + 1)]


def test_published_offer_is_in_the_next_reply_until_archived_or_out_of_window(client, shop):
    assert "今日优惠" not in card(client)["description"]
    r = client.post("/api/v1/promotions", headers=shop, json={
        "code": "MOCHA", "title": "摩卡买一送一", "scope": "outlets", "outlets": ["A"],
        "image_url": "https://img.example.com/mocha.jpg"})
    url, tag = r.headers["Location"], r.headers["ETag"]
    assert "摩卡" not in card(client)["description"]  # still a draft
    r = client.put(url + "/status", headers={**shop, "If-Match": tag},
                   json={"status": "published"})
    first = card(client)
    assert "今日优惠：摩卡买一送一" in first["description"]
    assert first["pic_url"] == "https://img.example.com/mocha.jpg"
    r = client.patch(url, headers={**shop, "If-Match": r.headers["ETag"]},
                     json={"weekdays": other_weekdays()})
    assert "摩卡" not in card(client)["description"]  # outside its weekly window
    r = client.patch(url, headers={**shop, "If-Match": r.headers["ETag"]}, json={"weekdays": []})
    assert "摩卡" in card(client)["description"]
    client.put(url + "/status", headers={**shop, "If-Match": r.headers["ETag"]},
               json={"status": "archived"})
    assert "摩卡" not in card(client)["description"]


def test_preview_is_the_card_customers_get(client, services, shop):
    r = client.post("/api/v1/promotions", headers=shop, json={
        "code": "COCO", "title": "周末限定：超大杯生椰拿铁第二杯半价", "scope": "outlets",
        "outlets": ["A"],
        "image_url": "https://img.example.com/coco.png"})
    url = r.headers["Location"]
    draft = client.get(url + "/preview", headers=shop, params={"outlet": "A"}).json()
    assert not draft["shown_now"] and "published" in draft["reasons"][0]
    client.put(url + "/status", headers={**shop, "If-Match": r.headers["ETag"]},
               json={"status": "published"})
    real = card(client)
    distance = haversine_m(*CUSTOMER, *OUTLET)
    preview = client.get(url + "/preview", headers=shop,
                         params={"outlet": "A", "distance_m": distance}).json()
    assert preview["shown_now"] and preview["reasons"] == []
    for key in ("title", "description", "pic_url"):
        assert preview[key] == real[key], key
    assert real["title"].endswith("…") and len(real["title"].encode()) <= 128
    assert "<![CDATA[" in preview["xml"] and preview["url"].startswith("http://testserver/h5/")


def test_preview_says_when_another_offer_wins(client, services, shop):
    with services.sessions.begin() as s:
        make_promotion(s, code="TOP", title="全场八折", scope="all", priority=99)
    services.catalog.refresh()
    r = client.post("/api/v1/promotions", headers=shop, json={
        "code": "LOW", "title": "小优惠", "scope": "outlets", "outlets": ["A"]})
    client.put(r.headers["Location"] + "/status",
               headers={**shop, "If-Match": r.headers["ETag"]}, json={"status": "published"})
    body = client.get(r.headers["Location"] + "/preview", headers=shop,
                      params={"outlet": "A"}).json()
    assert not body["shown_now"] and "TOP" in body["reasons"][0]
    assert "小优惠" in body["description"]  # the card as it would look with this offer
    assert client.get(r.headers["Location"] + "/preview", headers=shop,
                      params={"outlet": "ELSEWHERE"}).status_code == 404
