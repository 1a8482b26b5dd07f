"""Following tracked links: destinations built from sealed fields, one click per double tap."""

from __future__ import annotations

import struct
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event
from o2o.customers.clicks import CLICK_WINDOW_S, LinkGone, follow
from o2o.customers.link_codec import TARGET_CODES
from o2o.customers.links import LABEL, read_link, tracked_url
from o2o.customers.service import remember_location
from o2o.links import LinkExpired, LinkInvalid, seal
from tests.factories import make_outlet, make_promotion
from tests.factories_loop import NOW, a_customer
from tests.link_spellings import spellable, spellings

QID = "f" * 32


@pytest.fixture
def shop(session: Session, services):  # type: ignore[no-untyped-def]
    outlet = make_outlet(session, phone="021-6123 4567 转 8", name="人民广场店")
    promo = make_promotion(session, coupon_enabled=True, coupon_total=10)
    session.commit()
    services.catalog.refresh()
    return {"outlet": outlet, "promo": promo}


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _go(session: Session, services, url: str, at=NOW, shared=False):  # type: ignore[no-untyped-def]
    return follow(session, settings=services.settings, catalog=services.catalog,
                  token=_token(url), now=at, shared=shared)


def _clicks(session: Session) -> list[Event]:
    return list(session.scalars(sa.select(Event).where(Event.type == "click")))


def test_each_target_leads_where_it_names(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    s, oid, pid = services.settings, shop["outlet"].id, shop["promo"].id
    who = a_customer()

    def dest(target: str, **kw: object) -> str:
        url = tracked_url(s, target=target, query_id=QID, customer_hash=who, outlet_id=oid,
                          promotion_id=pid, now=NOW.timestamp(), **kw)
        return _go(session, services, url).location

    assert dest("tel") == "tel:021612345678"
    assert dest("map:amap").startswith("https://uri.amap.com/marker?position=")
    assert dest("map:tencent").startswith("https://apis.map.qq.com/uri/v1/marker?marker=coord:")
    outlet_page = dest("outlet")
    assert outlet_page.startswith("http://testserver/h5/outlet/")
    assert read_link(s, _token(outlet_page), "outlet", now=NOW.timestamp()).outlet_id == oid
    coupon = read_link(s, _token(dest("coupon")), "coupon", now=NOW.timestamp())
    assert (coupon.promotion_id, coupon.customer_hash, coupon.query_id) == (pid, who, QID)
    nearby = dest("nearby", lat=31.2, lng=121.4)
    assert nearby.endswith(f"#o{oid}")
    page = read_link(s, _token(nearby.split("#")[0]), "nearby", now=NOW.timestamp())
    assert (page.lat, page.lng, page.query_id) == (31.2, 121.4, QID)


def test_follow_on_links_expire_with_the_link_followed(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    s = services.settings
    url = tracked_url(s, target="outlet", query_id=QID, customer_hash=a_customer(),
                      outlet_id=shop["outlet"].id, now=NOW.timestamp())
    first = read_link(s, _token(url), "redirect", now=NOW.timestamp())
    later = NOW + timedelta(days=3)
    page = _go(session, services, url, at=later).location
    assert read_link(s, _token(page), "outlet", now=later.timestamp()).exp == first.exp


def test_a_double_tap_is_one_click_but_a_later_tap_is_another(session: Session, services,  # type: ignore[no-untyped-def]
                                                              shop) -> None:
    who = a_customer()
    url = tracked_url(services.settings, target="map:amap", query_id=QID, customer_hash=who,
                      outlet_id=shop["outlet"].id, promotion_id=shop["promo"].id,
                      now=NOW.timestamp())
    taps = [NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=CLICK_WINDOW_S - 1)]
    counted = [_go(session, services, url, at=t).counted for t in taps]
    assert counted == [True, False, False]
    assert _go(session, services, url, at=NOW + timedelta(seconds=5 * CLICK_WINDOW_S)).counted
    session.commit()
    clicks = _clicks(session)
    assert len(clicks) == 2
    assert {(c.customer_hash, c.query_id, c.outlet_id, c.promotion_id, c.channel)
            for c in clicks} == {(who, QID, shop["outlet"].id, shop["promo"].id, "wechat")}
    assert clicks[0].props == {"target": "map:amap"}


def test_one_link_is_one_click_however_it_is_sealed_or_spelt(session: Session, services,  # type: ignore[no-untyped-def]
                                                            shop) -> None:
    """Clicks are de-duplicated on what the link says, not on the characters of its token."""
    s, who, oid = services.settings, a_customer(), shop["outlet"].id
    token = spellable(lambda q: _token(tracked_url(s, target="outlet", query_id=q,
                                                   customer_hash=who, outlet_id=oid,
                                                   now=NOW.timestamp())))
    resealed = _token(tracked_url(s, target="outlet", query_id=read_link(
        s, token, "redirect", now=NOW.timestamp()).query_id, customer_hash=who, outlet_id=oid,
        now=NOW.timestamp()))
    assert resealed != token  # a fresh nonce each time
    for spelt in [*spellings(token).values(), resealed]:
        try:
            follow(session, settings=s, catalog=services.catalog, token=spelt, now=NOW)
        except LinkInvalid:
            continue
    assert len(_clicks(session)) == 1


def test_a_forwarded_copy_is_a_click_but_nobody_s(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    s, who = services.settings, a_customer()
    record_event(session, type="query", customer_hash=who, query_id=QID, lat=31.23,
                 lng=121.47, at=NOW, dedup_key=f"query:{QID}")
    remember_location(session, customer_hash=who, lat=30.1, lng=120.1, now=NOW, ttl_s=600)
    followed = _go(session, services, tracked_url(s, target="outlet", query_id=QID,
                                                  customer_hash=who, outlet_id=shop["outlet"].id,
                                                  now=NOW.timestamp()), shared=True)
    page = read_link(s, _token(followed.location), "outlet", now=NOW.timestamp())
    assert page.shared and page.viewer is None
    [click] = _clicks(session)
    assert (click.customer_hash, click.query_id, click.outlet_id) == \
        (None, None, shop["outlet"].id)
    # Without the query's position, a shared list never falls back to where the customer
    # has been since.
    with pytest.raises(LinkGone):
        _go(session, services, tracked_url(s, target="nearby", query_id="other",
                                           customer_hash=who, now=NOW.timestamp()), shared=True)


def test_taps_across_a_window_boundary_count_once(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    url = tracked_url(services.settings, target="outlet", query_id=QID, customer_hash=None,
                      outlet_id=shop["outlet"].id, source="h5", now=NOW.timestamp())
    edge = NOW.timestamp() // CLICK_WINDOW_S * CLICK_WINDOW_S + CLICK_WINDOW_S
    before = NOW + timedelta(seconds=edge - NOW.timestamp() - 0.5)
    assert _go(session, services, url, at=before).counted
    assert not _go(session, services, url, at=before + timedelta(seconds=1)).counted
    assert [c.channel for c in _clicks(session)] == ["h5"]


def test_nearby_without_a_position_uses_the_query_then_the_customer(session: Session,  # type: ignore[no-untyped-def]
                                                                    services, shop) -> None:
    s, who = services.settings, a_customer()
    record_event(session, type="query", customer_hash=who, query_id=QID, lat=31.23456,
                 lng=121.47654, at=NOW, dedup_key=f"query:{QID}")
    via_query = _go(session, services, tracked_url(s, target="nearby", query_id=QID,
                                                   customer_hash=who, now=NOW.timestamp()))
    page = read_link(s, _token(via_query.location), "nearby", now=NOW.timestamp())
    assert (page.lat, page.lng) == (31.235, 121.477)
    remember_location(session, customer_hash=who, lat=30.1, lng=120.1, now=NOW, ttl_s=600)
    via_customer = _go(session, services, tracked_url(s, target="nearby", query_id="other",
                                                      customer_hash=who, now=NOW.timestamp()))
    page = read_link(s, _token(via_customer.location), "nearby", now=NOW.timestamp())
    assert (page.lat, page.lng) == (30.1, 120.1)
    with pytest.raises(LinkGone):
        _go(session, services, tracked_url(s, target="nearby", query_id="other",
                                           customer_hash=who, now=NOW.timestamp()),
            at=NOW + timedelta(hours=1))


def test_gone_outlets_offers_and_phones_record_nothing(session: Session, services) -> None:  # type: ignore[no-untyped-def]
    s = services.settings
    quiet = make_outlet(session, phone="")
    gone = make_outlet(session, deleted_at=NOW)
    session.commit()
    services.catalog.refresh()
    for kw in ({"target": "tel", "outlet_id": quiet.id},
               {"target": "outlet", "outlet_id": gone.id},
               {"target": "map:amap", "outlet_id": 999_999},
               {"target": "coupon", "promotion_id": 999_999}):
        with pytest.raises(LinkGone) as err:
            _go(session, services, tracked_url(s, query_id=QID, customer_hash=a_customer(),
                                               now=NOW.timestamp(), **kw))
        assert err.value.http_status == 410
    assert _clicks(session) == []


def test_bad_and_expired_tokens_record_nothing(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    url = tracked_url(services.settings, target="outlet", query_id=QID, customer_hash=None,
                      outlet_id=shop["outlet"].id, now=NOW.timestamp())
    with pytest.raises(LinkExpired):
        _go(session, services, url, at=NOW + timedelta(seconds=services.settings.link_ttl_s + 1))
    with pytest.raises(LinkInvalid):
        _go(session, services, url[:-1] + ("A" if url[-1] != "A" else "B"))
    assert _clicks(session) == []


@hsettings(max_examples=30, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.one_of(st.sampled_from(sorted(TARGET_CODES.values())),
                       st.integers(0, 255)),
       flags=st.integers(0, 255),
       parts=st.lists(st.one_of(st.sampled_from(["query", "customer", "outlet", "promotion",
                                                 "position"]), st.binary(max_size=8)),
                      max_size=6))
def test_no_sealed_payload_leads_off_our_list(session: Session, services, shop, target: int,  # type: ignore[no-untyped-def]
                                              flags: int, parts: list) -> None:
    """Even a genuinely sealed token with odd bytes can only reach our own destinations."""
    pieces = {"query": b"\x90" + bytes.fromhex(QID), "customer": b"\xa0" + bytes(32),
              "outlet": struct.pack(">I", shop["outlet"].id),
              "promotion": struct.pack(">I", shop["promo"].id),
              "position": struct.pack(">ii", 31_230, 121_474)}
    body = bytes((ord("r"), flags, target)) + b"".join(
        pieces[p] if isinstance(p, str) else p for p in parts)
    token = seal(body, services.settings.signing_key, label=LABEL,
                 exp=int(NOW.timestamp()) + 60)
    try:
        where = follow(session, settings=services.settings, catalog=services.catalog,
                       token=token, now=NOW).location
    except (LinkInvalid, LinkGone):
        return
    assert where.startswith(("http://testserver/h5/", "tel:", "https://uri.amap.com/marker?",
                             "https://apis.map.qq.com/uri/v1/marker?"))
