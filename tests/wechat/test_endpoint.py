"""POST /wechat end to end: real signed (and encrypted) pushes through the app."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from o2o.analytics.models import Event
from o2o.customers.models import Customer
from o2o.geo.datum import Datum, from_wgs84
from o2o.wechat.simulator import build_request, decode_reply, event_xml, location_xml, text_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_loop import stall

TOKEN, APPID = "test-token", "wxtestappid0001"
OPENID = "oCUSTOMER_raw_openid_123"
# A GCJ-02 position next to outlet A (as WeChat would report it).
HERE = from_wgs84(31.2304, 121.4737, Datum.GCJ02)


@pytest.fixture
def chain(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST", name="华东")
        a = make_outlet(s, lat=31.2310, lng=121.4740, code="A", name="人民广场店", region=east,
                        address="南京东路 1 号")
        for i in range(9):
            make_outlet(s, lat=31.235 + i * 0.003, lng=121.48, code=f"N{i}", region=east)
        make_outlet(s, lat=30.2741, lng=120.1551, code="HZ", city="杭州", name="西湖店")
        make_promotion(s, outlets=[a], title="第二杯半价 ]]> <b>&")
    services.catalog.load()
    return services


def push(client, xml: str, *, mode: str = "safe"):  # type: ignore[no-untyped-def]
    """Send like WeChat does in `mode` (plain, compat, safe) and decode the reply."""
    aes = None if mode == "plain" else TEST_AES_KEY
    query, body = build_request(xml, token=TOKEN, aes_key=aes, appid=APPID,
                                compat=mode == "compat")
    r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200, r.text
    return decode_reply(r.content, token=TOKEN, aes_key=aes, appid=APPID,
                        encrypted=aes is not None)


def events(services, type_: str | None = None) -> list[Event]:  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        q = sa.select(Event).order_by(Event.id)
        if type_:
            q = q.where(Event.type == type_)
        return list(s.scalars(q))


def shown(services) -> list[tuple[str | None, int | None]]:  # type: ignore[no-untyped-def]
    """(query id, outlet) of every outlet shown: impression rows, and the query row that
    carries its reply's first card."""
    return [(e.query_id, e.outlet_id) for e in events(services)
            if e.type == "impression" or (e.type == "query" and e.outlet_id is not None)]


# Plain (明文) pushes are accepted only while O2O_WECHAT_ACCEPT_PLAINTEXT says so.
@pytest.mark.parametrize(("mode", "settings"), [("plain", True), ("compat", False),
                                                ("safe", False)],
                         ids=["plain", "compat", "safe"], indirect=["settings"])
def test_location_message_gets_one_card_for_the_nearest(client, chain, mode) -> None:
    reply = push(client, location_xml(*HERE, from_user=OPENID, msg_id=1001), mode=mode)
    assert reply.kind == "news"
    (card,) = reply.articles  # WeChat shows one article for a user message
    assert "人民广场店" in card["title"] and "米" in card["title"]
    assert "第二杯半价" in card["description"]
    assert card["url"].startswith("http://testserver/r/")
    assert card["pic_url"].startswith("http://testserver/")
    (query,) = events(chain)  # one row: the query is the card's impression too
    assert query.type == "query" and query.outlet_id is not None
    assert query.promotion_id is not None  # the card's offer
    assert shown(chain) == [(query.query_id, query.outlet_id)]
    assert query.distance_m == pytest.approx(70, abs=15)


def test_retry_gets_the_same_reply_and_counts_once(client, chain) -> None:
    xml = location_xml(*HERE, from_user=OPENID, msg_id=2002, create_time=int(time.time()))
    first = push(client, xml)
    second = push(client, xml)  # WeChat's retry: same MsgId
    assert first.xml == second.xml
    assert len(events(chain, "query")) == 1
    assert len(shown(chain)) == 1


def test_location_select_event_gets_several_cards_and_a_more_link(client, chain) -> None:
    reply = push(client, event_xml("location_select", *HERE, "人民广场", from_user=OPENID))
    n = chain.settings.wechat_news_articles
    assert reply.kind == "news" and len(reply.articles) == n
    assert reply.articles[-1]["title"].startswith("查看附近更多门店")
    # The query row shows the first card; the "more" card shows no outlet.
    assert len(shown(chain)) == len({outlet for _, outlet in shown(chain)}) == n - 1
    assert len(events(chain)) == n - 1


def test_rows_written_per_push(client, chain) -> None:
    """Location messages (one card) write one event row each, location_select (n cards and
    a "more" card) n - 1; WeChat's retries write nothing more."""
    now = int(time.time())
    for i in range(5):
        xml = location_xml(*HERE, from_user=OPENID, msg_id=7000 + i, create_time=now)
        push(client, xml)
        push(client, xml)  # retried
    assert len(events(chain)) == 5
    n = chain.settings.wechat_news_articles
    for i in range(3):
        push(client, event_xml("location_select", *HERE, "人民广场", from_user=OPENID,
                               create_time=now + 1 + i))
    assert len(events(chain)) == 5 + 3 * (n - 1)
    assert len(events(chain, "query")) == 8
    with chain.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1


def test_far_from_every_outlet_gets_text_naming_the_nearest(client, chain) -> None:
    far = from_wgs84(30.60, 120.60, Datum.GCJ02)  # ~50 km from 西湖店, outside 10 km
    reply = push(client, location_xml(*far, from_user=OPENID, msg_id=3003))
    assert reply.kind == "text"
    assert "西湖店" in reply.text and "杭州" in reply.text and "公里" in reply.text


def test_nearby_click_uses_last_known_position_or_asks(client, chain) -> None:
    ask = push(client, event_xml("click", "NEARBY", from_user=OPENID))
    assert ask.kind == "text" and "位置" in ask.text
    assert push(client, event_xml("location", *HERE, from_user=OPENID)).kind == "success"
    reply = push(client, event_xml("click", "NEARBY", from_user=OPENID,
                                   create_time=int(time.time()) + 1))
    assert reply.kind == "news" and "人民广场店" in reply.articles[0]["title"]


def test_follow_unfollow_and_the_stored_position(client, chain) -> None:
    welcome = push(client, event_xml("subscribe", from_user=OPENID))
    assert welcome.kind == "text" and "位置" in welcome.text
    push(client, event_xml("location", *HERE, from_user=OPENID))
    with chain.sessions() as s:
        (customer,) = s.scalars(sa.select(Customer)).all()
        assert customer.last_lat is not None
        # Coarsened: three decimals at most.
        assert round(customer.last_lat, 3) == customer.last_lat
    assert push(client, event_xml("unsubscribe", from_user=OPENID,
                                  create_time=int(time.time()) + 2)).kind == "success"
    with chain.sessions() as s:
        customer = s.scalars(sa.select(Customer)).one()
        assert customer.last_lat is None and customer.subscribed is False
    assert [e.type for e in events(chain) if e.type in ("subscribe", "unsubscribe")] == \
        ["subscribe", "unsubscribe"]


@pytest.mark.parametrize(("typed", "expect"), [
    ("杭州", "西湖店"),
    ("人民广场", "人民广场店"),
    ("附近有店吗", "位置"),
    ("hello", "发送位置"),
])
def test_typed_questions(client, chain, typed, expect) -> None:
    reply = push(client, text_xml(typed, from_user=OPENID))
    assert reply.kind == "text" and expect in reply.text


def test_offers_near_the_last_position(client, chain) -> None:
    push(client, location_xml(*HERE, from_user=OPENID, msg_id=4004))
    reply = push(client, text_xml("优惠", from_user=OPENID))
    assert reply.kind == "text" and "第二杯半价" in reply.text


def test_unknown_types_get_success(client, chain) -> None:
    xml = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o1]]>"
           f"</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
           "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/y.jpg]]></PicUrl>"
           "<MediaId><![CDATA[m]]></MediaId><MsgId>77</MsgId></xml>")
    assert push(client, xml).kind == "success"


def test_no_raw_openid_is_stored(client, chain) -> None:
    push(client, event_xml("subscribe", from_user=OPENID))
    push(client, location_xml(*HERE, from_user=OPENID, msg_id=5005))
    with chain.engine.connect() as conn:
        for table in ("events", "customers"):
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            assert rows and OPENID not in repr(rows)


def test_wrong_signature_and_stale_timestamp_are_refused(client, chain) -> None:
    xml = location_xml(*HERE, from_user=OPENID, msg_id=6006)
    query, body = build_request(xml, token="not-the-token", aes_key=TEST_AES_KEY, appid=APPID)
    r = client.post("/wechat", params=query, content=body)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "wechat_bad_signature")
    query, body = build_request(xml, token=TOKEN, timestamp=int(time.time()) - 3600,
                                aes_key=TEST_AES_KEY, appid=APPID)
    r = client.post("/wechat", params=query, content=body)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "wechat_stale_timestamp")
    assert events(chain) == []


def test_url_verification(client, chain) -> None:
    query, _ = build_request("<xml/>", token=TOKEN)
    r = client.get("/wechat", params={**query, "echostr": "abc123"})
    assert r.status_code == 200 and r.text == "abc123"
    bad = client.get("/wechat", params={**query, "signature": "0" * 40, "echostr": "x"})
    assert bad.status_code in (401, 403)


def test_open_outlets_come_first_and_closed_ones_say_when_they_open(client, services) -> None:
    weekdays_only = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    never = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with services.sessions.begin() as s:
        make_outlet(s, lat=31.2305, lng=121.4738, code="SHUT", name="打烊店", hours=never)
        make_outlet(s, lat=31.2400, lng=121.4800, code="OPEN", name="营业店")
    services.catalog.load()
    reply = push(client, location_xml(*HERE, from_user=OPENID, msg_id=7007))
    assert "营业店" in reply.articles[0]["title"]  # the nearer one is closed all week
    with services.sessions.begin() as s:
        make_outlet(s, lat=20.0, lng=110.3, code="HK1", name="工作日店", hours=weekdays_only)
    services.catalog.load()
    # Near 海口 only the weekday shop exists; at night or at weekends it is closed.
    haikou = from_wgs84(20.001, 110.301, Datum.GCJ02)
    card = push(client, location_xml(*haikou, from_user=OPENID, msg_id=7008)).articles[0]
    assert "工作日店" in card["title"]
    assert ("营业中" in card["description"]) or ("开门" in card["description"])


def test_the_reply_waits_for_its_writes_but_not_for_a_stalled_database(client, chain) -> None:
    """Replies go out once their rows are committed (a retry or the next push sees them);
    when the database hangs, the reply still comes within `wechat_write_wait_s` and the rows
    are written once it recovers."""
    from o2o.metrics import WECHAT_WRITE_WAIT_EXPIRED

    reply = push(client, location_xml(*HERE, msg_id=301))
    assert reply.kind == "news" and len(events(chain, "query")) == 1  # committed before

    release = stall(chain.writer)  # the database hangs
    expired = WECHAT_WRITE_WAIT_EXPIRED._value.get()
    started = time.monotonic()
    reply = push(client, location_xml(*HERE, msg_id=302))
    waited = time.monotonic() - started
    assert reply.kind == "news"
    budget = chain.settings.wechat_write_wait_s
    assert budget <= waited < budget + 2.0
    assert WECHAT_WRITE_WAIT_EXPIRED._value.get() == expired + 1
    # Not yet written (and not read here: on SQLite a read would queue behind the stall).
    assert chain.writer.flush(0) is False
    release.set()
    assert chain.writer.flush(10) and len(events(chain, "query")) == 2
