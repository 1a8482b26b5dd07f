"""Signed customer links: they say who and which query, cannot be forged, retargeted or
stretched, and never carry a free URL."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from o2o.config import Settings
from o2o.customers.links import (
    TARGETS,
    coupon_page_url,
    nearby_page_url,
    outlet_page_url,
    read_link,
    tracked_url,
)
from o2o.links import LinkExpired, LinkInvalid, sign

WHO = "c" * 64
QID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings() -> Settings:
    return Settings(signing_key="links-test-key-0123456789", public_base_url="https://shop.example",
                    link_ttl_s=3600)


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def test_nearby_link_carries_query_customer_and_a_10_m_position(settings: Settings) -> None:
    url = nearby_page_url(settings, query_id=QID, customer_hash=WHO, lat=31.2304567,
                          lng=121.4737123)
    assert url.startswith("https://shop.example/h5/nearby/")
    link = read_link(settings, _token(url), "nearby")
    assert (link.query_id, link.customer_hash, link.lat, link.lng) == \
        (QID, WHO, 31.2305, 121.4737)
    assert abs(link.exp - (time.time() + 3600)) < 5


def test_page_links_round_trip(settings: Settings) -> None:
    outlet = read_link(settings, _token(outlet_page_url(
        settings, query_id=None, customer_hash=WHO, outlet_id=7)), "outlet")
    assert (outlet.outlet_id, outlet.query_id, outlet.lat) == (7, None, None)
    coupon = read_link(settings, _token(coupon_page_url(
        settings, query_id=QID, customer_hash=WHO, promotion_id=3, outlet_id=7)), "coupon")
    assert (coupon.promotion_id, coupon.outlet_id, coupon.customer_hash) == (3, 7, WHO)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_tracked_links_name_a_target_never_a_url(settings: Settings, target: str) -> None:
    url = tracked_url(settings, target=target, query_id=QID, customer_hash=WHO, outlet_id=5,
                      promotion_id=9)
    assert url.startswith("https://shop.example/r/")
    link = read_link(settings, _token(url), "redirect")
    assert (link.target, link.outlet_id, link.promotion_id, link.query_id) == (target, 5, 9, QID)


@pytest.mark.parametrize("kw", [
    {"target": "https://evil.example/"},
    {"target": "//evil.example"},
    {"target": "javascript:alert(1)"},
    {"target": "outlet"},            # needs an outlet
    {"target": "tel"},
    {"target": "map:amap"},
    {"target": "coupon", "outlet_id": 1},  # needs a promotion
])
def test_tracked_url_refuses_what_it_cannot_build(settings: Settings, kw: dict) -> None:
    with pytest.raises(ValueError):
        tracked_url(settings, query_id=QID, customer_hash=WHO, **kw)


def test_tampered_truncated_and_foreign_tokens_are_invalid(settings: Settings) -> None:
    token = _token(tracked_url(settings, target="outlet", query_id=QID, customer_hash=WHO,
                               outlet_id=5))
    head, mac = token.split(".")
    forged_head = sign({"k": "r", "t": "outlet", "o": 6}, "another-key", ttl_s=60).split(".")[0]
    for bad in (f"{forged_head}.{mac}", token[:-2], token + "x", head, "", "a.b", "..",
                token.replace(".", "..")):
        with pytest.raises(LinkInvalid):
            read_link(settings, bad, "redirect")


def test_a_token_of_one_kind_does_not_open_another(settings: Settings) -> None:
    token = _token(nearby_page_url(settings, query_id=QID, customer_hash=WHO, lat=1, lng=2))
    for kind in ("redirect", "outlet", "coupon"):
        with pytest.raises(LinkInvalid):
            read_link(settings, token, kind)


@pytest.mark.parametrize("payload", [
    {"k": "r", "t": "https://evil.example"},
    {"k": "r", "t": "outlet", "o": "5"},
    {"k": "r", "t": "outlet", "o": True},
    {"k": "n", "q": QID, "c": WHO},               # nearby without a position
    {"k": "n", "la": "31", "ln": 121},
    {"k": "c", "c": WHO},                         # coupon without a promotion
    {"k": "o", "o": 1, "c": "x" * 65},
    {"k": "zz"},
])
def test_genuine_signature_but_wrong_shape_is_invalid(settings: Settings, payload: dict) -> None:
    token = sign(payload, settings.signing_key, ttl_s=60)
    kind = {"r": "redirect", "n": "nearby", "c": "coupon", "o": "outlet"}.get(payload["k"],
                                                                          "nearby")
    with pytest.raises(LinkInvalid):
        read_link(settings, token, kind)


def test_expired_links_say_so_and_follow_on_links_keep_the_expiry(settings: Settings) -> None:
    issued = 1_700_000_000.0
    url = tracked_url(settings, target="outlet", query_id=QID, customer_hash=WHO, outlet_id=5,
                      now=issued)
    link = read_link(settings, _token(url), "redirect", now=issued + 3599)
    with pytest.raises(LinkExpired):
        read_link(settings, _token(url), "redirect", now=issued + 3601)
    follow = outlet_page_url(settings, query_id=QID, customer_hash=WHO, outlet_id=5,
                             exp=link.exp)
    assert read_link(settings, _token(follow), "outlet", now=issued).exp == link.exp
