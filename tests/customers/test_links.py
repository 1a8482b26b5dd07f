"""Sealed customer links: they say who and which query to us and to nobody else, cannot be
forged, retargeted or stretched, have one spelling, and never carry a free URL."""

from __future__ import annotations

import base64
import struct
import time
from urllib.parse import urlsplit

import pytest

from o2o.config import Settings
from o2o.coupons.binding import LABEL as COOKIE_LABEL
from o2o.customers.identity import coarsen
from o2o.customers.link_codec import Link, pack
from o2o.customers.links import (
    LABEL,
    TARGETS,
    coupon_page_url,
    nearby_page_url,
    opened_from_share,
    outlet_page_url,
    read_link,
    tracked_url,
)
from o2o.links import LinkExpired, LinkInvalid, seal
from tests.link_spellings import spellable, spellings

WHO = "c7" * 32
QID = "0190f3a2b4c57d6e8f90a1b2c3d4e5f6"
EXACT = (31.2304567, 121.4737123)


@pytest.fixture
def settings() -> Settings:
    return Settings(signing_key="links-test-key-0123456789", public_base_url="https://shop.example",
                    link_ttl_s=3600)


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _every_link(settings: Settings) -> list[str]:
    return [
        nearby_page_url(settings, query_id=QID, customer_hash=WHO, lat=EXACT[0], lng=EXACT[1]),
        outlet_page_url(settings, query_id=QID, customer_hash=WHO, outlet_id=7, lat=EXACT[0],
                        lng=EXACT[1]),
        coupon_page_url(settings, query_id=QID, customer_hash=WHO, promotion_id=3, outlet_id=7),
        *(tracked_url(settings, target=target, query_id=QID, customer_hash=WHO, outlet_id=7,
                      promotion_id=3, lat=EXACT[0], lng=EXACT[1]) for target in sorted(TARGETS)),
    ]


def _lenient(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_link_tells_its_reader_neither_who_nor_where(settings: Settings) -> None:
    """Whoever a link is forwarded to (or whatever logs it) reads nothing of the customer."""
    for url in _every_link(settings):
        token = _token(url)
        readable = token + "".join(_lenient(part).decode("latin-1") for part in token.split("."))
        for secret in (WHO, QID, bytes.fromhex(WHO).decode("latin-1"),
                       bytes.fromhex(QID).decode("latin-1"), "31.23", "121.47",
                       struct.pack(">i", 31230).decode("latin-1")):
            assert secret not in readable, url


def test_a_position_rides_no_finer_than_the_stored_one(settings: Settings) -> None:
    coarse = coarsen(*EXACT)
    nearby = read_link(settings, _token(nearby_page_url(
        settings, query_id=QID, customer_hash=WHO, lat=EXACT[0], lng=EXACT[1])), "nearby")
    redirect = read_link(settings, _token(tracked_url(
        settings, target="nearby", query_id=QID, customer_hash=WHO, lat=EXACT[0],
        lng=EXACT[1])), "redirect")
    assert (nearby.lat, nearby.lng) == (redirect.lat, redirect.lng) == coarse == (31.23, 121.474)


def test_a_reply_link_stays_short(settings: Settings) -> None:
    """The longest reply link (the first card: every field) fits WeChat comfortably."""
    assert max(len(url) for url in _every_link(settings)) <= 170


def test_links_round_trip(settings: Settings) -> None:
    nearby = read_link(settings, _token(_every_link(settings)[0]), "nearby")
    assert (nearby.query_id, nearby.customer_hash, nearby.shared) == (QID, WHO, False)
    assert abs(nearby.exp - (time.time() + 3600)) < 5
    outlet = read_link(settings, _token(outlet_page_url(
        settings, query_id=None, customer_hash=WHO, outlet_id=7)), "outlet")
    assert (outlet.outlet_id, outlet.query_id, outlet.lat) == (7, None, None)
    coupon = read_link(settings, _token(coupon_page_url(
        settings, query_id="not-hex id", customer_hash=WHO, promotion_id=3, outlet_id=7,
        shared=True)), "coupon")
    assert (coupon.promotion_id, coupon.outlet_id, coupon.customer_hash, coupon.query_id,
            coupon.shared, coupon.viewer) == (3, 7, WHO, "not-hex id", True, None)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_tracked_links_name_a_target_never_a_url(settings: Settings, target: str) -> None:
    url = tracked_url(settings, target=target, query_id=QID, customer_hash=WHO, outlet_id=5,
                      promotion_id=9, source="h5")
    assert url.startswith("https://shop.example/r/")
    link = read_link(settings, _token(url), "redirect")
    assert (link.target, link.outlet_id, link.promotion_id, link.query_id, link.source) == \
        (target, 5, 9, QID, "h5")


@pytest.mark.parametrize("kw", [
    {"target": "https://evil.example/"},
    {"target": "//evil.example"},
    {"target": "javascript:alert(1)"},
    {"target": "outlet"},            # needs an outlet
    {"target": "tel"},
    {"target": "map:amap"},
    {"target": "coupon", "outlet_id": 1},  # needs a promotion
    {"target": "outlet", "outlet_id": 1 << 32},  # does not fit
    {"target": "outlet", "outlet_id": 1, "query_id": "q" * 65},
])
def test_tracked_url_refuses_what_it_cannot_build(settings: Settings, kw: dict) -> None:
    with pytest.raises(ValueError):
        tracked_url(settings, **{"query_id": QID, "customer_hash": WHO, **kw})


def test_tampered_truncated_and_foreign_tokens_are_invalid(settings: Settings) -> None:
    token = _token(tracked_url(settings, target="outlet", query_id=QID, customer_hash=WHO,
                               outlet_id=5))
    body = pack(Link(kind="redirect", exp=int(time.time()) + 60, target="outlet", outlet_id=6))
    foreign = seal(body, "another-key", label=LABEL, exp=int(time.time()) + 60)
    as_cookie = seal(body, settings.signing_key, label=COOKIE_LABEL, exp=int(time.time()) + 60)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (foreign, as_cookie, flipped, token[:-2], token[:-4], token + "AAAA", "",
                "a.b", "..", token + "." + token, "A" * 40, "A" * 2000):
        with pytest.raises(LinkInvalid):
            read_link(settings, bad, "redirect")


def test_one_link_has_one_spelling(settings: Settings) -> None:
    token = spellable(lambda q: _token(tracked_url(settings, target="outlet", query_id=q,
                                                   customer_hash=WHO, outlet_id=5)))
    for name, spelt in spellings(token).items():
        if name == "canonical":
            assert read_link(settings, spelt, "redirect").outlet_id == 5
        else:
            with pytest.raises(LinkInvalid):
                read_link(settings, spelt, "redirect")


def test_a_token_of_one_kind_does_not_open_another(settings: Settings) -> None:
    token = _token(nearby_page_url(settings, query_id=QID, customer_hash=WHO, lat=1, lng=2))
    for kind in ("redirect", "outlet", "coupon"):
        with pytest.raises(LinkInvalid):
            read_link(settings, token, kind)


def _text(value: str) -> bytes:
    return bytes((len(value),)) + value.encode()


@pytest.mark.parametrize(("kind", "body"), [
    ("nearby", b""),
    ("nearby", b"z\x00"),                                  # unknown kind
    ("nearby", b"n\x80" + struct.pack(">ii", 1, 2)),       # unknown flag
    ("redirect", b"r\x00\x09"),                            # unknown target
    ("redirect", b"r\x04\x02\x00\x05"),                    # outlet id cut short
    ("outlet", b"o\x04" + struct.pack(">I", 5) + b"\x00"),  # a byte left over
    ("nearby", b"n\x03" + _text("q")),                     # customer flagged, missing
    ("outlet", b"o\x05\x02\xff\xfe" + struct.pack(">I", 5)),  # not UTF-8
    ("nearby", b"n\x10" + struct.pack(">ii", 91_000, 0)),  # off the globe
    ("nearby", b"n\x03" + _text("q") + _text("c")),        # nearby without a position
    ("outlet", b"o\x00"),                                  # outlet without an outlet
    ("coupon", b"c\x02" + _text("c")),                     # coupon without a promotion
    ("coupon", b"c\x08" + struct.pack(">I", 3)),           # coupon without a customer
])
def test_genuine_seal_but_wrong_shape_is_invalid(settings: Settings, kind: str,
                                                 body: bytes) -> None:
    token = seal(body, settings.signing_key, label=LABEL, exp=int(time.time()) + 60)
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


@pytest.mark.parametrize(("query", "shared"), [
    ({}, False), ({"claimed": "1"}, False), ({"from": "singlemessage", "isappinstalled": "0"}, True),
    ({"from": "groupmessage"}, True), ({"from": "timeline"}, True), ({"isappinstalled": "1"}, True),
])
def test_wechat_share_markers_are_recognised(query: dict, shared: bool) -> None:
    assert opened_from_share(query) is shared
