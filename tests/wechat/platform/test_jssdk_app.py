"""Through the app: the H5 pages inside WeChat (SDK script, CSP, config endpoint, re-ranking
from the customer's position), and with WeChat's API down the pages keep their map links."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.customers.links import nearby_page_url, outlet_page_url, read_link
from o2o.geo.datum import wgs84_to_gcj02
from o2o.wechat.platform import platform_of
from o2o.wechat.platform.jssdk import signature
from o2o.wechat.platform.standin import StandIn
from tests.factories import make_outlet
from tests.factories_loop import a_customer

from .conftest import SECRET, Clock
from .test_jssdk import WECHAT_UA

APPID = "wxtestappid0001"
SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
HERE = (31.230, 121.474)
IN_WECHAT = {"User-Agent": WECHAT_UA}


@pytest.fixture
def standin(clock: Clock) -> StandIn:
    return StandIn(appid=APPID, secret=SECRET, clock=clock)


@pytest.fixture
def settings(settings: Settings, standin_url: str) -> Settings:
    return settings.model_copy(update={"wechat_api_base": standin_url, "wechat_secret": SECRET,
                                       "wechat_api_retries": 1, "wechat_api_timeout_s": 1.0})


@pytest.fixture
def shop(session: Session, services):  # type: ignore[no-untyped-def]
    outlet = make_outlet(session, lat=HERE[0] + 0.003, lng=HERE[1], name="人民广场店",
                         address="南京西路 1 号")
    session.commit()
    services.catalog.refresh()
    return outlet


def _nearby(services, who: str | None = None) -> str:  # type: ignore[no-untyped-def]
    return nearby_page_url(services.settings, query_id="q" * 32, customer_hash=who,
                           lat=HERE[0], lng=HERE[1])


def test_inside_wechat_the_page_loads_the_sdk_and_its_csp_allows_only_that(client, services,
                                                                          shop) -> None:
    r = client.get(_nearby(services, a_customer()), headers=IN_WECHAT)
    assert r.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', r.text)
    assert scripts == [SDK, "/static/h5/wx.js?v=2"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self' https://res.wx.qq.com;" in csp and "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    lat, lng = wgs84_to_gcj02(shop.lat, shop.lng)
    assert f'data-lat="{lat}" data-lng="{lng}"' in r.text  # the outlet, in GCJ-02
    assert 'data-name="人民广场店"' in r.text and 'data-address="南京西路 1 号"' in r.text
    assert "用我的位置" in r.text
    assert "腾讯地图" in r.text and "高德地图" in r.text  # the ordinary links stay
    assert client.get("/static/h5/wx.js").status_code == 200


def test_outside_wechat_nothing_changes(client, services, shop) -> None:
    r = client.get(_nearby(services))
    assert "<script" not in r.text and "data-wx" not in r.text and "用我的位置" not in r.text
    assert "script-src" not in r.headers["content-security-policy"]
    assert "腾讯地图" in r.text and "高德地图" in r.text
    # The staff console and the dashboard never allow WeChat's script, in WeChat or not.
    for path in ("/staff/login", "/dashboard"):
        csp = client.get(path, headers=IN_WECHAT).headers.get("content-security-policy", "")
        assert "res.wx.qq.com" not in csp


def test_config_endpoint_signs_our_page_with_the_shared_ticket(client, services, shop,
                                                               standin: StandIn) -> None:
    page = _nearby(services, a_customer()) + "?from=timeline"
    r = client.get("/api/v1/wechat/js-config", params={"url": page + "#top"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    config = r.json()
    ticket = platform_of(services).jsapi_ticket()
    assert config["appId"] == APPID
    assert config["signature"] == signature(ticket=ticket, noncestr=config["nonceStr"],
                                            timestamp=config["timestamp"], url=page)
    assert config["jsApiList"] == ["openLocation", "getLocation", "updateAppMessageShareData"]
    client.get("/api/v1/wechat/js-config", params={"url": page})
    assert standin.count("ticket/getticket") == 1  # one ticket for every page while it is valid


@pytest.mark.parametrize("url", [
    "https://evil.example.com/h5/nearby/{token}",
    "http://testserver/staff/login",
    "http://testserver/h5/nearby/not-a-genuine-token",
    "http://testserver/h5/outlet/{token}",
])
def test_config_endpoint_refuses_foreign_urls(client, services, standin: StandIn,
                                             url: str) -> None:
    token = _nearby(services).rsplit("/", 1)[1]
    r = client.get("/api/v1/wechat/js-config", params={"url": url.format(token=token)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "jssdk_url_refused"
    assert "signature" not in r.text
    assert standin.calls == []  # not even a token was fetched for it


def test_config_endpoint_needs_a_url(client, standin: StandIn) -> None:
    assert client.get("/api/v1/wechat/js-config").status_code == 422
    r = client.get("/api/v1/wechat/js-config", params={"url": "x" * 3000})
    assert r.status_code == 422
    assert standin.calls == []


def test_with_wechats_api_down_pages_render_with_their_map_links(client, services, shop,
                                                                standin: StandIn) -> None:
    standin.fail("down")
    # (with a customer: a page without one would first go through WeChat's OAuth)
    outlet = outlet_page_url(services.settings, query_id=None, customer_hash=a_customer(),
                             outlet_id=shop.id)
    for page in (_nearby(services, a_customer()), outlet):
        r = client.get(page, headers=IN_WECHAT)
        assert r.status_code == 200
        assert "腾讯地图" in r.text and "高德地图" in r.text and "人民广场店" in r.text
        assert re.search(r'<button[^>]*hidden data-wx-nav', r.text)  # shown only once ready
        config = client.get("/api/v1/wechat/js-config", params={"url": page})
        assert config.status_code == 503
        assert config.json()["error"]["code"] == "wechat_api_unavailable"
    assert standin.calls  # the config endpoint did try WeChat; the pages never waited on it
    assert all(c.api in ("stable_token", "ticket/getticket") for c in standin.calls)


def test_outlet_page_shares_a_card_with_nobody_in_it(client, services, shop) -> None:
    page = outlet_page_url(services.settings, query_id="q" * 32, customer_hash=a_customer(),
                           outlet_id=shop.id, lat=HERE[0], lng=HERE[1])
    r = client.get(page, headers=IN_WECHAT)
    (link,) = re.findall(r'data-link="([^"]+)"', r.text)
    shared = read_link(services.settings, link.rsplit("/", 1)[1], "outlet")
    assert (shared.outlet_id, shared.customer_hash, shared.query_id, shared.lat) == \
        (shop.id, None, None, None)
    assert 'data-title="人民广场店 · ' in r.text


def _here(client, page: str, lat: float, lng: float, query: str = ""):  # type: ignore[no-untyped-def]
    path = urlsplit(page).path + "/here"
    return client.get(f"{path}?{query}lat={lat}&lng={lng}", follow_redirects=False)


def test_my_position_reranks_from_a_coarse_position_for_the_same_customer(
        client, services, shop) -> None:
    who = a_customer()
    page = _nearby(services, who)
    old = read_link(services.settings, page.rsplit("/", 1)[1], "nearby")
    there = wgs84_to_gcj02(31.2412345, 121.4898765)  # what wx.getLocation says, in GCJ-02
    r = _here(client, page, *there)
    assert r.status_code == 303 and r.headers["location"].startswith("/h5/nearby/")
    new = read_link(services.settings, r.headers["location"].rsplit("/", 1)[1], "nearby")
    assert (new.lat, new.lng) == (31.241, 121.49)  # back in WGS-84, ~100 m coarse
    assert new.customer_hash == who and new.viewer == who and new.query_id is None
    assert new.exp == old.exp  # following never extends a link
    assert client.get(r.headers["location"]).status_code == 200


def test_my_position_on_a_forwarded_copy_acts_for_nobody(client, services, shop) -> None:
    r = _here(client, _nearby(services, a_customer()), *HERE,
              query="from=singlemessage&isappinstalled=0&")
    new = read_link(services.settings, r.headers["location"].rsplit("/", 1)[1], "nearby")
    assert new.shared and new.viewer is None


@pytest.mark.parametrize("lat, lng", [("91", "121.4"), ("31.2", "x"), ("nan", "121.4")])
def test_my_position_refuses_nonsense_with_the_friendly_page(client, services, lat: str,
                                                             lng: str) -> None:
    for path in (urlsplit(_nearby(services)).path + f"/here?lat={lat}&lng={lng}",
                 "/h5/nearby/forged/here?lat=31.2&lng=121.4"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 400 and "链接无效" in r.text
        assert "location" not in r.headers  # nothing minted
