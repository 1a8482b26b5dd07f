"""The H5 pages in WeChat's browser (its user agent, a recording `wx` in place of WeChat's
SDK, served from a local origin through O2O_WECHAT_JSSDK_URL): 导航 opens WeChat's map at the
outlet's GCJ-02 position, 用我的位置 re-ranks, the share card carries nobody; outside WeChat,
or with WeChat's API down, the map links are all there is. Screenshots in tests/artifacts/."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from o2o.config import Settings
from o2o.customers.links import nearby_page_url, outlet_page_url, read_link
from o2o.geo.datum import wgs84_to_gcj02
from o2o.wechat.platform import platform_of
from o2o.wechat.platform.jssdk import signature
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.standin_http import running
from tests.factories import make_outlet

pytestmark = pytest.mark.browser

STUB_DIR = Path(__file__).parent / "wx_stub"
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Version/4.0 Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35)")
SECRET = "standin-secret-0123456789"
HERE = (31.2304, 121.4737)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub_sdk() -> Iterator[str]:
    """The recording wx served from its own origin (as WeChat's host serves the real one)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Quiet, directory=str(STUB_DIR)))
    thread = threading.Thread(target=server.serve_forever, name="wx-stub", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jweixin-1.6.0.js"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def standin(settings: Settings) -> StandIn:
    return StandIn(appid=settings.wechat_appid, secret=SECRET)


@pytest.fixture
def settings(settings: Settings, standin: StandIn, stub_sdk: str) -> Iterator[Settings]:
    with running(standin) as url:
        yield settings.model_copy(update={"wechat_api_base": url, "wechat_secret": SECRET,
                                          "wechat_api_retries": 0, "wechat_jssdk_url": stub_sdk})


@pytest.fixture
def shops(live):  # type: ignore[no-untyped-def]
    with live.sessions.begin() as s:
        near = make_outlet(s, lat=31.2331, lng=121.4752, name="南京东路店", address="南京东路 300 号")
        far = make_outlet(s, lat=31.2160, lng=121.4800, name="新天地店", address="马当路 245 号")
        ids = near.id, far.id
    live.catalog.refresh()
    return ids


def _wait(driver: Any, script: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(lambda d: d.execute_script(script))


def _calls(driver: Any, api: str) -> list[dict[str, Any]]:
    return [c["arg"] for c in driver.execute_script("return window.__wxCalls || []")
            if c["api"] == api]


def test_in_wechat_navigate_opens_wechats_map_at_the_gcj02_position(
        live, shops, launch_browser, screenshot, stub_sdk) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    wechat = launch_browser(f"--user-agent={WECHAT_UA}")
    near_id, _ = shops
    page = outlet_page_url(live.settings, query_id=None, customer_hash="c" * 64,
                           outlet_id=near_id, lat=HERE[0], lng=HERE[1])
    wechat.get(page)
    button = _wait(wechat, "const b = document.querySelector('[data-wx-nav]');"
                           "return b && !b.hidden && b")
    (config,) = _calls(wechat, "config")
    # Signed for exactly the page's location.href, with the ticket the server shares.
    assert config["signature"] == signature(
        ticket=platform_of(live).jsapi_ticket(), noncestr=config["nonceStr"],
        timestamp=config["timestamp"], url=wechat.execute_script("return location.href"))
    assert config["appId"] == live.settings.wechat_appid
    screenshot("1-outlet-in-wechat", driver=wechat)

    button.click()
    (opened,) = _calls(wechat, "openLocation")
    lat, lng = wgs84_to_gcj02(31.2331, 121.4752)
    assert opened["latitude"] == pytest.approx(lat, abs=1e-9)
    assert opened["longitude"] == pytest.approx(lng, abs=1e-9)
    assert abs(opened["latitude"] - 31.2331) > 1e-4  # really converted, not WGS-84
    assert (opened["name"], opened["address"]) == ("南京东路店", "南京东路 300 号")
    # The ordinary map links are still there as a second way.
    assert wechat.find_element(By.LINK_TEXT, "腾讯地图").is_displayed()

    (card,) = _calls(wechat, "updateAppMessageShareData")
    shared = read_link(live.settings, card["link"].rsplit("/", 1)[1], "outlet")
    assert card["link"].startswith(live.base_url + "/h5/outlet/")
    assert (shared.outlet_id, shared.customer_hash, shared.query_id, shared.lat) == \
        (near_id, None, None, None)
    assert card["title"].startswith("南京东路店") and card["imgUrl"].startswith(live.base_url)


def test_in_wechat_my_position_reranks_the_list(live, shops, launch_browser,
                                                screenshot) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    wechat = launch_browser(f"--user-agent={WECHAT_UA}")
    wechat.get(nearby_page_url(live.settings, query_id=None, customer_hash="c" * 64,
                               lat=HERE[0], lng=HERE[1]))
    names = [e.text for e in wechat.find_elements(By.CSS_SELECTOR, ".card .name")]
    assert names == ["南京东路店", "新天地店"]
    button = _wait(wechat, "const p = document.querySelector('[data-wx-here]');"
                           "return p && !p.hidden && p.querySelector('button')")
    screenshot("1-nearby-in-wechat", driver=wechat)
    first = wechat.current_url
    wechat.execute_script("window.__wxPosition = arguments[0]",
                          list(wgs84_to_gcj02(31.2165, 121.4795)))  # by 新天地店
    button.click()
    _wait(wechat, f"return location.href !== {first!r} && document.readyState === 'complete'")
    assert "/h5/nearby/" in wechat.current_url and "lat=" not in wechat.current_url
    names = [e.text for e in wechat.find_elements(By.CSS_SELECTOR, ".card .name")]
    assert names == ["新天地店", "南京东路店"]
    screenshot("2-reranked", driver=wechat)


def test_outside_wechat_the_map_links_and_no_sdk(live, shops, browser, screenshot,
                                                 stub_sdk) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(nearby_page_url(live.settings, query_id=None, customer_hash=None,
                                lat=HERE[0], lng=HERE[1]))
    assert browser.execute_script("return typeof window.wx") == "undefined"
    assert browser.execute_script("return document.scripts.length") == 0
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert not any(stub_sdk in name or "wx.js" in name for name in resources)
    links = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".actions a.act")]
    assert links.count("腾讯地图") == 2 and links.count("高德地图") == 2
    assert "用我的位置" not in browser.page_source
    screenshot("1-nearby-outside-wechat")


def test_in_wechat_with_wechats_api_down_the_map_links_stay(
        live, shops, standin, launch_browser, screenshot) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    standin.fail("down")
    wechat = launch_browser(f"--user-agent={WECHAT_UA}")
    wechat.get(nearby_page_url(live.settings, query_id=None, customer_hash="c" * 64,
                               lat=HERE[0], lng=HERE[1]))
    _wait(wechat, "return performance.getEntriesByType('resource')"
                  ".some(e => e.name.includes('/api/v1/wechat/js-config'))")
    _wait(wechat, "return document.readyState === 'complete'")
    assert _calls(wechat, "config") == []  # no config: nothing of the SDK is switched on
    assert all(not b.is_displayed()
               for b in wechat.find_elements(By.CSS_SELECTOR, "[data-wx-nav], [data-wx-here]"))
    assert wechat.find_element(By.CSS_SELECTOR, ".actions .label").is_displayed()
    assert len(wechat.find_elements(By.LINK_TEXT, "腾讯地图")) == 2
    screenshot("1-nearby-wechat-api-down", driver=wechat)
