"""The JS-SDK signature (WeChat's published example) and what may be signed at all."""

from __future__ import annotations

import time

import pytest

from o2o.config import Settings
from o2o.customers.links import nearby_page_url, outlet_page_url, read_link
from o2o.wechat.platform.jssdk import (
    JS_API_LIST,
    UrlNotSignable,
    in_wechat,
    js_config,
    share_link,
    signable_url,
    signature,
)

SETTINGS = Settings(public_base_url="https://o2o.example.cn", wechat_appid="wxjssdktest0001",
                    signing_key="jssdk-test-signing-key-0123456789")
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Version/4.0 Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35)")


def _page(**updates: object) -> str:
    return nearby_page_url(SETTINGS.model_copy(update=updates), query_id=None,
                           customer_hash="c" * 64, lat=31.23, lng=121.47)


def test_signature_matches_wechats_published_example() -> None:
    assert signature(
        ticket="sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        noncestr="Wm3WZYTPz0wzccnW", timestamp=1414587457,
        url="http://mp.weixin.qq.com?params=value",
    ) == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_config_signs_the_page_without_its_fragment() -> None:
    page = _page() + "?from=singlemessage&isappinstalled=0"
    now = time.time()
    config = js_config(SETTINGS, url=page + "#o3", ticket=lambda: "the-ticket", now=now,
                       nonce="n0nce")
    assert config.as_dict() == {
        "appId": "wxjssdktest0001", "timestamp": int(now), "nonceStr": "n0nce",
        "signature": signature(ticket="the-ticket", noncestr="n0nce", timestamp=int(now),
                               url=page),
        "jsApiList": list(JS_API_LIST), "openTagList": ["wx-open-subscribe"]}
    assert js_config(SETTINGS, url=page, ticket=lambda: "t", now=now).nonce_str != \
        js_config(SETTINGS, url=page, ticket=lambda: "t", now=now).nonce_str


def test_every_page_kind_with_a_genuine_link_is_signable() -> None:
    outlet = outlet_page_url(SETTINGS, query_id=None, customer_hash=None, outlet_id=7)
    for url in (_page(), outlet, share_link(SETTINGS, outlet_id=7, now=time.time())):
        assert signable_url(SETTINGS, url) == url


@pytest.mark.parametrize("url", [
    "https://evil.example.com/h5/nearby/{token}",          # another site
    "http://o2o.example.cn/h5/nearby/{token}",             # our host, other scheme
    "https://o2o.example.cn:8443/h5/nearby/{token}",       # our host, other port
    "https://user@o2o.example.cn/h5/nearby/{token}",       # userinfo in front of our host
    "https://o2o.example.cn.evil.com/h5/nearby/{token}",   # our name as a prefix
    "https://o2o.example.cn/h5/outlet/{token}",            # a nearby link as an outlet page
    "https://o2o.example.cn/h5/nearby/{token}/here",       # not a page
    "https://o2o.example.cn/staff/login",                  # our origin, not an H5 page
    "https://o2o.example.cn/h5/nearby/forged-token",       # no genuine link
    "https://o2o.example.cn/h5/nearby/",
    "/h5/nearby/{token}",                                  # relative
    "javascript:alert(1)//https://o2o.example.cn/h5/nearby/{token}",
])
def test_only_our_own_pages_with_genuine_links_are_signed(url: str) -> None:
    token = _page().rsplit("/", 1)[1]
    calls: list[str] = []

    def ticket() -> str:
        calls.append("ticket")
        return "t"

    with pytest.raises(UrlNotSignable) as refused:
        js_config(SETTINGS, url=url.format(token=token), ticket=ticket, now=time.time())
    assert refused.value.code == "jssdk_url_refused"
    assert calls == []  # refused before the ticket is even asked for


def test_expired_link_or_other_key_is_not_signed() -> None:
    page = _page()
    with pytest.raises(UrlNotSignable):
        signable_url(SETTINGS, page, now=time.time() + SETTINGS.link_ttl_s + 10)
    with pytest.raises(UrlNotSignable):
        signable_url(SETTINGS, _page(signing_key="another-signing-key-0123456789"))


def test_base_url_with_a_path_prefix() -> None:
    settings = SETTINGS.model_copy(update={"public_base_url": "https://o2o.example.cn/shop/"})
    page = nearby_page_url(settings, query_id=None, customer_hash=None, lat=31.23, lng=121.47)
    assert page.startswith("https://o2o.example.cn/shop/h5/nearby/")
    assert signable_url(settings, page) == page
    with pytest.raises(UrlNotSignable):
        signable_url(settings, page.replace("/shop/", "/"))


def test_share_link_carries_nobody() -> None:
    link = read_link(SETTINGS, share_link(SETTINGS, outlet_id=7, now=time.time()).rsplit(
        "/", 1)[1], "outlet")
    assert (link.outlet_id, link.customer_hash, link.query_id, link.lat, link.lng) == \
        (7, None, None, None, None)
    assert link.shared and link.viewer is None


def test_wechat_is_told_by_its_user_agent() -> None:
    assert in_wechat(WECHAT_UA)
    assert not in_wechat("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1")
    assert not in_wechat(None) and not in_wechat("")
