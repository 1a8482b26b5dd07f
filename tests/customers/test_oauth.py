"""WeChat OAuth (snsapi_base) on the H5 pages, through the app, with WeChat's API played by the
stand-in over real HTTP: the round trip, what is kept (only the customer hash), refused
states and codes, failures without a loop, and whose coupon codes a page shows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.coupons.models import Coupon
from o2o.customers.identity import customer_hash
from o2o.customers.links import coupon_page_url, nearby_page_url
from o2o.customers.oauth import OAuthRefused, begin, finish
from o2o.wechat.nonces import RedisNonceBindings
from o2o.wechat.platform import platform_of
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.standin_http import running
from tests.factories import make_outlet
from tests.factories_loop import make_coupon_promotion
from tests.wechat.platform.conftest import SECRET

APPID = "wxtestappid0001"  # the app's own, as in tests/conftest.py
AUTHORIZE = "https://open.weixin.test"
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) "
             "NetType/WIFI Language/zh_CN")
IN_WECHAT = {"User-Agent": WECHAT_UA}
SHARED = "?from=singlemessage&isappinstalled=0"
HERE = (31.230, 121.474)
CLAIM = "领取优惠券"
KEY = "test-signing-key-0123456789"


@pytest.fixture
def standin() -> StandIn:
    return StandIn(appid=APPID, secret=SECRET)


@pytest.fixture
def settings(settings: Settings, standin: StandIn) -> Iterator[Settings]:
    with running(standin) as url:
        yield settings.model_copy(update={"wechat_api_base": url, "wechat_secret": SECRET,
                                          "wechat_api_retries": 0,
                                          "wechat_oauth_base": AUTHORIZE})


@pytest.fixture
def shop(session: Session, services):  # type: ignore[no-untyped-def]
    near = make_outlet(session, lat=HERE[0] + 0.003, lng=HERE[1], name="人民广场店")
    promo = make_coupon_promotion(session, title="第二杯半价", outlets=[near], total=10)
    session.commit()
    services.catalog.refresh()
    return {"near": near, "promo": promo}


def _start(client, page: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Open `page` in WeChat: it must send us to WeChat's authorize page; (state, cookie)."""
    r = client.get(page, headers=IN_WECHAT, follow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    location = r.headers["location"]
    back = quote("http://testserver/h5/oauth", safe="")
    assert location.startswith(f"{AUTHORIZE}/connect/oauth2/authorize?appid={APPID}"
                               f"&redirect_uri={back}&response_type=code&scope=snsapi_base"
                               "&state=")
    assert location.endswith("#wechat_redirect")
    state = parse_qs(urlsplit(location).query)["state"][0]
    cookie = r.headers["set-cookie"]
    assert "o2o_oauth_state=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/h5/" in cookie
    return state, client.cookies["o2o_oauth_state"]


def _come_back(client, state: str, code: str):  # type: ignore[no-untyped-def]
    return client.get("/h5/oauth", params={"code": code, "state": state}, headers=IN_WECHAT,
                      follow_redirects=False)


def _sign_in(client, standin: StandIn, page: str, openid: str):  # type: ignore[no-untyped-def]
    """The whole round trip as WeChat's browser makes it; the callback's response."""
    state, _ = _start(client, page)
    back = _come_back(client, state, standin.issue_code(openid))
    assert back.status_code == 302 and "o2o_customer=" in back.headers["set-cookie"]
    return back


def _oauth_calls(standin: StandIn) -> int:
    return sum(1 for c in standin.calls if c.api == "oauth2/access_token")


def _database_text(services) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table of ours, as text (what a grep of the database would see)."""
    rows = []
    with services.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            if table != "spatial_ref_sys":  # PostGIS's own catalogue
                rows += [repr(tuple(row)) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def _shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def test_round_trip_acts_for_the_customer_and_keeps_only_their_hash(  # type: ignore[no-untyped-def]
        client, services, shop, standin: StandIn, session: Session) -> None:
    openid = "oOpenId-menu-visitor-0001"
    page = nearby_page_url(services.settings, query_id=None, customer_hash=None,
                           lat=HERE[0], lng=HERE[1])
    path = page.removeprefix("http://testserver")
    outside = client.get(page)  # outside WeChat: no detour, no claiming, as before
    assert outside.status_code == 200 and CLAIM not in outside.text

    back = _sign_in(client, standin, page, openid)
    assert back.headers["location"] == path
    session_cookie = [c for c in back.headers.get_list("set-cookie") if "o2o_customer=" in c][0]
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Path=/h5/" in session_cookie and "Secure" not in session_cookie  # http in tests
    assert openid not in session_cookie
    assert _oauth_calls(standin) == 1

    shown = client.get(path, headers=IN_WECHAT)
    assert shown.status_code == 200 and CLAIM in shown.text
    claim_url = re.search(r'<form method="post" action="([^"]+)"', shown.text).group(1)
    assert client.post(claim_url, follow_redirects=False).status_code == 303
    holder = session.scalars(sa.select(Coupon.customer_hash)).one()
    session.rollback()
    assert holder == customer_hash(openid, services.settings.customer_hash_key)
    stored = _database_text(services)
    assert holder in stored and openid not in stored  # the hash, never the openid
    assert _oauth_calls(standin) == 1  # exchanged once


def test_a_forged_state_is_refused_before_wechat_is_asked(  # type: ignore[no-untyped-def]
        client, services, shop, standin: StandIn) -> None:
    page = nearby_page_url(services.settings, query_id=None, customer_hash=None,
                           lat=HERE[0], lng=HERE[1])
    state, cookie = _start(client, page)
    code = standin.issue_code("oOpenId-forged")
    forged = _come_back(client, "A" * 22, code)  # not the state this browser was given
    assert forged.status_code == 400 and "o2o_customer" not in forged.headers.get("set-cookie", "")
    client.cookies.clear()  # the right state, from a browser that did not start the round
    stranger = _come_back(client, state, code)
    assert stranger.status_code == 400
    client.cookies.set("o2o_oauth_state", cookie[:-4] + "AAAA", path="/h5/")
    assert _come_back(client, state, code).status_code == 400  # a tampered cookie
    assert _oauth_calls(standin) == 0
    assert "o2o_customer" not in client.cookies


def test_a_replayed_state_is_refused(client, services, shop,  # type: ignore[no-untyped-def]
                                     standin: StandIn) -> None:
    page = nearby_page_url(services.settings, query_id=None, customer_hash=None,
                           lat=HERE[0], lng=HERE[1])
    state, cookie = _start(client, page)
    code = standin.issue_code("oOpenId-replayed")
    assert _come_back(client, state, code).status_code == 302
    client.cookies.clear()
    client.cookies.set("o2o_oauth_state", cookie, path="/h5/")  # the whole callback, replayed
    replay = _come_back(client, state, standin.issue_code("oOpenId-replayed"))
    assert replay.status_code == 400 and "o2o_customer" not in replay.headers.get("set-cookie", "")
    assert _oauth_calls(standin) == 1


@pytest.mark.parametrize("trouble", ["reused code", "invalid code", "busy", "down"])
def test_a_failed_exchange_shows_the_page_without_claiming_and_no_loop(  # type: ignore[no-untyped-def]
        client, services, shop, standin: StandIn, session: Session, trouble: str) -> None:
    page = nearby_page_url(services.settings, query_id=None, customer_hash=None,
                           lat=HERE[0], lng=HERE[1])
    path = page.removeprefix("http://testserver")
    code = standin.issue_code("oOpenId-unlucky")
    if trouble == "reused code":
        platform_of(services).exchange_code(code)  # spent: WeChat answers 40163
    elif trouble == "invalid code":
        code = "not-a-code-wechat-gave"  # 40029
    else:
        standin.fail(trouble)
    state, _ = _start(client, page)
    back = _come_back(client, state, code)
    assert back.status_code == 302 and back.headers["location"] == path
    assert "o2o_customer" not in back.headers.get("set-cookie", "")
    assert "o2o_customer" not in client.cookies
    if trouble in ("reused code", "invalid code"):
        errcode = 40163 if trouble == "reused code" else 40029
        assert standin.calls[-1].errcode == errcode
    standin.recover()
    calls = len(standin.calls)
    for _ in range(2):  # the page, now and on the next visit: no second round
        shown = client.get(path, headers=IN_WECHAT, follow_redirects=False)
        assert shown.status_code == 200 and "第二杯半价" in shown.text and CLAIM not in shown.text
    assert len(standin.calls) == calls
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 0
    session.rollback()
    assert "oOpenId-unlucky" not in _database_text(services)


def _claim_in_this_browser(client, session: Session, url: str) -> str:  # type: ignore[no-untyped-def]
    assert client.post(url, follow_redirects=False).status_code == 303
    code = session.scalars(sa.select(Coupon.code)).one()
    session.rollback()  # SQLite: a reading test session must not hold the write lock
    return code


def test_the_owner_sees_their_code_on_another_phone(  # type: ignore[no-untyped-def]
        client, services, shop, standin: StandIn, session: Session) -> None:
    openid = "oOpenId-owner"
    owner = customer_hash(openid, services.settings.customer_hash_key)
    url = coupon_page_url(services.settings, query_id="q" * 32, customer_hash=owner,
                          promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
    code = _claim_in_this_browser(client, session, url)
    client.cookies.clear()  # the same customer, another phone (no claim cookie)
    assert _shown(code) not in client.get(url).text  # outside WeChat: still hidden
    _sign_in(client, standin, url, openid)  # hidden codes: WeChat is asked who looks
    mine = client.get(url, headers=IN_WECHAT)
    assert mine.status_code == 200 and _shown(code) in mine.text and "<svg" in mine.text
    forwarded_to_self = client.get(url + SHARED, headers=IN_WECHAT)
    assert _shown(code) in forwarded_to_self.text


@pytest.mark.parametrize("how", [SHARED, ""])
def test_a_forwardee_never_sees_the_code_and_claims_for_themselves(  # type: ignore[no-untyped-def]
        client, services, shop, standin: StandIn, session: Session, how: str) -> None:
    key = services.settings.customer_hash_key
    owner = customer_hash("oOpenId-sender", key)
    url = coupon_page_url(services.settings, query_id="q" * 32, customer_hash=owner,
                          promotion_id=shop["promo"].id, outlet_id=shop["near"].id)
    code = _claim_in_this_browser(client, session, url)
    client.cookies.clear()  # the forwardee's phone, with or without WeChat's share markers

    _sign_in(client, standin, url + how, "oOpenId-forwardee")
    seen = client.get(url + how, headers=IN_WECHAT)
    assert seen.status_code == 200 and _shown(code) not in seen.text and CLAIM in seen.text
    assert client.post(url + how, follow_redirects=False).status_code == 303
    held = dict(session.execute(sa.select(Coupon.customer_hash, Coupon.code)).all())
    session.rollback()
    forwardee = customer_hash("oOpenId-forwardee", key)
    assert set(held) == {owner, forwardee}
    after = client.get(url + how, headers=IN_WECHAT).text
    assert _shown(held[forwardee]) in after and _shown(code) not in after


def test_a_state_is_used_once_across_workers_sharing_redis(redis_url: str) -> None:
    """Each worker has its own record of used states; through Redis they share one, so the
    callback replayed to another worker is refused there too."""
    import redis

    settings = Settings(signing_key=KEY, public_base_url="https://x.test")
    url, cookie = begin(settings, "/h5/nearby/abc?from=timeline")
    state = parse_qs(urlsplit(url).query)["state"][0]
    workers = [redis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        prefix = f"o2o:test:{uuid.uuid4().hex}:"  # one deployment, two workers
        first, second = (RedisNonceBindings(w, prefix=prefix) for w in workers)
        assert finish(settings, state=state, cookie=cookie, uses=first) == \
            "/h5/nearby/abc?from=timeline"
        with pytest.raises(OAuthRefused):
            finish(settings, state=state, cookie=cookie, uses=second)
    finally:
        for w in workers:
            w.close()


@pytest.mark.parametrize("elsewhere", ["https://evil.test/h5/x", "//evil.test/h5/x", "/r/abc",
                                       "/h5//evil.test", "/h5/x\r\nSet-Cookie: a=b"])
def test_a_round_only_ever_comes_back_to_one_of_our_pages(elsewhere: str) -> None:
    with pytest.raises(ValueError):
        begin(Settings(signing_key=KEY), elsewhere)
