"""The whole O2O loop through public interfaces only: a location message, the reply's link,
the click, a coupon claimed on the H5 page, redeemed by staff, a geofenced visit; then the
event log holds one of each step, tied to the one query, and nothing stored or logged
anywhere holds the raw openid or an exact position."""

from __future__ import annotations

import logging
import re
from html import unescape
from urllib.parse import urlsplit

import sqlalchemy as sa

from o2o.analytics.models import Event
from o2o.geo.datum import Datum, from_wgs84, to_wgs84
from o2o.models import Base
from o2o.wechat.simulator import build_request, decode_reply, event_xml, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet
from tests.factories_loop import make_coupon_promotion
from tests.factories_staff import bearer, make_token

TOKEN, APPID = "test-token", "wxtestappid0001"
OPENID = "oE2E_raw_openid_Zq81x"
SHOP = (31.2310, 121.4740)  # WGS-84
# Where the customer stands, as WeChat reports it (GCJ-02, six decimals): ~90 m from the shop.
HERE = from_wgs84(31.231713, 121.474512, Datum.GCJ02)
# Inside the shop a little later (the LOCATION report): ~20 m from it.
INSIDE = from_wgs84(31.231137, 121.474123, Datum.GCJ02)


def _push(client, xml: str):  # type: ignore[no-untyped-def]
    query, body = build_request(xml, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
    r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200, r.text
    return decode_reply(r.content, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID, encrypted=True)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_location_to_redemption(client, services, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    with services.sessions.begin() as s:
        shop = make_outlet(s, lat=SHOP[0], lng=SHOP[1], name="人民广场店", phone="021-61234567")
        make_coupon_promotion(s, outlets=[shop], title="第二杯半价")
        shop_id = shop.id
        staff_token = make_token(s, "staff", outlets=[shop])
    services.catalog.refresh()

    # 1. The customer shares a location; the reply is one card for the nearest outlet.
    reply = _push(client, location_xml(*HERE, from_user=OPENID, msg_id=777001))
    assert reply.kind == "news", str(reply)
    (card,) = reply.articles
    assert "人民广场店" in card["title"]
    assert urlsplit(card["url"]).path.startswith("/r/")

    # 2. The customer taps the card: one tracked click, then the nearby list.
    hop = client.get(_path(card["url"]), follow_redirects=False)
    assert hop.status_code == 302
    page = client.get(_path(hop.headers["location"]))
    assert page.status_code == 200 and "人民广场店" in page.text and "第二杯半价" in page.text

    # 3. They claim the coupon right there and see its code.
    claim_at = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    claimed = client.post(claim_at, follow_redirects=True)
    assert claimed.status_code == 200 and "领取成功" in claimed.text
    code = re.search(r'<p class="code"[^>]*>([A-Z2-9]{5}-[A-Z2-9]{5})</p>', claimed.text)[1]

    # 4. Later, a location report from inside the shop counts as a visit (with consent).
    visit = _push(client, event_xml("LOCATION", *INSIDE, from_user=OPENID))
    assert visit.kind == "success"

    # 5. At the till, staff redeem the code once.
    r = client.post("/api/v1/coupons/redeem", json={"code": code}, headers=bearer(staff_token))
    assert r.status_code == 200, r.text
    assert client.post("/api/v1/coupons/redeem", json={"code": code},
                       headers=bearer(staff_token)).status_code == 409

    with services.sessions() as s:
        events = list(s.scalars(sa.select(Event).order_by(Event.id)))
        dump = _dump(s)
    steps = [e.type.value for e in events if e.type.value != "impression"]
    assert sorted(steps) == sorted(["query", "click", "claim", "visit", "redemption"]), steps
    (query,) = [e for e in events if e.type == "query"]
    assert {e.query_id for e in events} == {query.query_id}
    assert len({e.customer_hash for e in events}) == 1
    assert {e.outlet_id for e in events if e.type != "query"} == {shop_id}

    # Privacy: no raw openid and no exact position in any table or any log line.
    # The server's log lines, that is; the test client's own (httpx) lines play WeChat, whose
    # request URLs do carry the openid, and `o2o serve` turns uvicorn's access log off.
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records
                       if not r.name.startswith("httpx"))
    assert "o2o.access" in logged
    assert OPENID not in dump and OPENID not in logged
    exact = [to_wgs84(*HERE, Datum.GCJ02), to_wgs84(*INSIDE, Datum.GCJ02), HERE, INSIDE]
    for lat, lng in exact:
        for text in (f"{lat:.4f}", f"{lng:.4f}"):
            assert text not in dump and text not in logged, text
    for e in events:
        for value in (e.lat, e.lng):
            assert value is None or round(value, 3) == value


def _dump(session) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table a customer can touch (the catalog's own rows aside)."""
    skip = {"outlets", "regions", "promotions", "promotion_outlets", "catalog_changes",
            "staff", "staff_tokens", "staff_outlets", "staff_regions", "alembic_version"}
    rows = []
    for table in Base.metadata.sorted_tables:
        if table.name not in skip:
            rows += [repr(tuple(row)) for row in session.execute(sa.select(table))]
    return "\n".join(rows)
