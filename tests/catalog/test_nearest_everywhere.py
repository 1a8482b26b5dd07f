"""One question, one answer: "which outlet is nearest" asked from the README's point through
every surface (chat location and text, menu click, the nearby API, the H5 page a reply links
to, the demo page) names the same outlet at the same distance, or says why not."""

from __future__ import annotations

import html
import re

import pytest

from o2o.catalog.nearby import LINKED_POINT_NOTE, POSITION_DECIMALS
from o2o.customers.identity import COARSE_DECIMALS, coarsen
from o2o.geo.datum import Datum, to_wgs84
from o2o.geo.distance import format_distance_zh, haversine_m
from o2o.wechat.simulator import event_xml, location_xml, text_xml
from tests.factories import make_outlet, make_promotion
from tests.wechat.test_endpoint import OPENID, push

#: The README's point, as WeChat sends it (GCJ-02).
README_POINT = (31.2304, 121.4737)
#: The same point on the canonical datum, at the precision every surface measures from.
HERE = tuple(round(v, POSITION_DECIMALS) for v in to_wgs84(*README_POINT, Datum.GCJ02))
CLOSED_ALL_WEEK = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def street(services):  # type: ignore[no-untyped-def]
    """A closed outlet ~280 m away, an open one ~330 m away with an offer, one further off;
    and one right at the README's numbers read as WGS-84 (the old demo's mistake)."""
    with services.sessions.begin() as s:
        make_outlet(s, lat=HERE[0] + 0.0025, lng=HERE[1], name="南京东路二店",
                    hours=CLOSED_ALL_WEEK)
        near = make_outlet(s, lat=HERE[0] + 0.0030, lng=HERE[1], name="南京东路四店")
        make_outlet(s, lat=HERE[0] + 0.0200, lng=HERE[1], name="静安寺店")
        make_outlet(s, lat=README_POINT[0], lng=README_POINT[1],
                    name="错位店")  # ~490 m from HERE: nearest only to the point misread
        make_promotion(s, outlets=[near], title="第二杯半价")
    services.catalog.load()
    return services


def _expected(dlat: float) -> str:
    return format_distance_zh(haversine_m(*HERE, HERE[0] + dlat, HERE[1]))


def _page_first(page: str) -> tuple[str, str, str, str]:
    """The first card's name and distance on an H5 nearby page, its notice, and what it
    says its distances are measured from."""
    name = re.search(r'class="name"[^>]*>([^<]+)<', page)
    dist = re.search(r'class="dist">([^<]+)<', page)
    notice = re.search(r'class="notice">([^<]+)<', page)
    basis = re.search(r'class="basis">([^<]+)<', page)
    assert name and dist, page
    return (html.unescape(name.group(1)), dist.group(1),
            html.unescape(notice.group(1)) if notice else "",
            html.unescape(basis.group(1)) if basis else "")


def test_every_surface_names_the_same_nearest_outlet_at_the_same_distance(client, street) -> None:
    # A reply measures from the shared point (~10 m); the page its link opens only knows
    # the stored ~100 m point (a forwarded link must not give the place away), and says so.
    assert POSITION_DECIMALS > COARSE_DECIMALS
    shown, closer = _expected(0.0030), _expected(0.0025)
    assert (shown, closer) == ("330 米", "280 米")
    closed_note = f"南京东路二店更近（{closer}），现在休息中"

    # The chat: a shared location, as real signed XML.
    reply = push(client, location_xml(*README_POINT, from_user=OPENID, msg_id=7001))
    (card,) = reply.articles
    assert card["title"] == f"离您最近：南京东路四店 · {shown}"
    assert closed_note in card["description"] and "第二杯半价" in card["description"]

    # The nearby API, asked with the same GCJ-02 numbers.
    body = client.get("/api/v1/nearby", params={"lat": README_POINT[0],
                                                "lng": README_POINT[1]}).json()
    first = body["results"][0]
    assert (first["name"], first["distance_text"]) == ("南京东路四店", shown)
    assert body["closed_nearer"]["name"] == "南京东路二店"
    assert body["closed_nearer"]["open_now"] is False
    assert body["message"].startswith(closed_note)
    # The closed one is still listed, after the open ones, marked as closed.
    listed = [(o["name"], o["open_now"]) for o in body["results"]]
    assert listed[-1] == ("南京东路二店", False) and all(o for _, o in listed[:-1])

    # The H5 page the reply's card opens, and the demo page.
    for url in (card["url"], "/h5/demo"):
        r = client.get(url)
        assert r.status_code == 200, url
        name, dist, notice, basis = _page_first(r.text)
        assert name == "南京东路四店", url
        assert basis == LINKED_POINT_NOTE, url  # the stated reason for any difference
        assert dist == format_distance_zh(haversine_m(*coarsen(*HERE), HERE[0] + 0.0030,
                                                      HERE[1])), url
        assert notice.startswith("南京东路二店更近（"), url

    # Typed "优惠" and the "附近门店" menu answer from the stored (coarse) position: the same
    # outlet, and the reply says the distance is measured from where the customer was.
    offers = push(client, text_xml("优惠", from_user=OPENID, msg_id=7002))
    assert "第二杯半价（南京东路四店，" in offers.text
    assert "距离按您刚才的位置估算，不是您现在的位置。" in offers.text
    menu = push(client, event_xml("CLICK", "NEARBY", from_user=OPENID))
    assert menu.articles[0]["title"].startswith("离您最近：南京东路四店 · ")
    assert "距离按您刚才的位置估算" in menu.articles[0]["description"]


def test_no_note_when_the_nearest_outlet_is_open(client, services) -> None:
    with services.sessions.begin() as s:
        make_outlet(s, lat=HERE[0] + 0.0025, lng=HERE[1], name="南京东路二店")
        make_outlet(s, lat=HERE[0] + 0.0030, lng=HERE[1], name="南京东路四店",
                    hours=CLOSED_ALL_WEEK)
    services.catalog.load()
    reply = push(client, location_xml(*README_POINT, from_user=OPENID, msg_id=7101))
    (card,) = reply.articles
    assert card["title"] == f"离您最近：南京东路二店 · {_expected(0.0025)}"
    assert "更近" not in card["description"]
    body = client.get("/api/v1/nearby", params={"lat": README_POINT[0],
                                                "lng": README_POINT[1]}).json()
    assert "closed_nearer" not in body and "message" not in body
