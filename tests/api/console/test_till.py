"""The till at /staff/till: a verdict per code, redemption exactly once, the outlet remembered,
and every refused POST leaves the database as it was."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.coupons.codes import display_code
from o2o.coupons.models import Coupon
from o2o.coupons.service import claim
from o2o.staff.models import StaffSession
from tests.factories import make_outlet, make_region
from tests.factories_console import csrf_of, sign_in
from tests.factories_loop import a_customer, make_coupon_promotion
from tests.factories_staff import make_staff

TILL = "/staff/till"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def shop(session: Session):  # type: ignore[no-untyped-def]
    """A chain with two regions: `here` (where the clerk works) and `also` in the north,
    `there` in the south; an offer at `here` only, and one at `also` only."""
    north, south = make_region(session), make_region(session)
    here = make_outlet(session, region=north, name="南京东路店")
    also = make_outlet(session, region=north, name="人民广场店", lat=31.3)
    there = make_outlet(session, region=south, name="西湖店", lat=30.0)
    promo = make_coupon_promotion(session, outlets=[here], title="第二杯半价")
    elsewhere = make_coupon_promotion(session, outlets=[also], title="买一送一")
    now = datetime.now(UTC).replace(microsecond=0)
    coupons = {
        "fresh": claim(session, promotion_id=promo.id, customer_hash=a_customer(),
                       outlet_id=here.id, query_id=None, now=now - timedelta(hours=1)),
        "stale": claim(session, promotion_id=promo.id, customer_hash=a_customer(),
                       outlet_id=here.id, query_id=None, now=now - timedelta(days=30)),
        "other": claim(session, promotion_id=elsewhere.id, customer_hash=a_customer(),
                       outlet_id=also.id, query_id=None, now=now - timedelta(hours=2)),
    }
    clerk = make_staff(session, "staff", outlets=[here], name="店员小李")
    roamer = make_staff(session, "staff", outlets=[here, also], name="店员小周")
    stranger = make_staff(session, "staff", outlets=[there], name="西湖店员")
    manager = make_staff(session, "manager", regions=[north], name="华北经理")
    # Plain values, read before the commit: touching an expired row later would open a
    # transaction in this session that (on SQLite) holds the lock the app needs.
    shop = {"here": here.id, "here_code": here.code, "also": also.id, "there": there.id,
            "fresh": coupons["fresh"].code, "fresh_claimed_at": coupons["fresh"].claimed_at,
            "stale": coupons["stale"].code, "other": coupons["other"].code,
            "clerk": clerk.id, "roamer": roamer.id, "stranger": stranger.id,
            "manager": manager.id}
    session.commit()
    return shop


def _state(session: Session) -> tuple[list[tuple[str, int | None]], int]:
    """Every coupon's (status, redeemed outlet) and the number of redemption events."""
    rows = [(str(c.status), c.redeemed_outlet_id) for c in
            session.scalars(sa.select(Coupon).order_by(Coupon.id))]
    events = session.scalar(sa.select(sa.func.count()).select_from(Event)
                            .where(Event.type == "redemption"))
    session.rollback()
    return rows, events


def _text(html: str) -> str:
    """The page's visible words, one space apart (tags and runs of space removed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _local(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


def test_a_valid_code_shows_the_offer_and_claim_time_with_a_confirm_button(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["clerk"])
    code = shop["fresh"]
    for typed in (code, display_code(code), display_code(code).lower(), f" {code[:5]} {code[5:]} "):
        r = client.get(TILL, params={"code": typed})
        assert r.status_code == 200, r.text
        text = _text(r.text)
        assert "可以核销" in text and "第二杯半价" in text and display_code(code) in text
        assert f"领取时间 {_local(shop['fresh_claimed_at'])}" in text
        assert 'action="/staff/till/redeem"' in r.text and f'value="{code}"' in r.text
    assert "南京东路店" in text  # the clerk's only outlet, preselected
    assert _state(session)[1] == 0


@pytest.mark.parametrize("case,headline,fact", [
    ("unknown", "券码无效", "没有这个券码"),
    ("garbage", "券码无效", "没有这个券码"),
    ("expired", "已过期", "过期时间"),
    ("wrong_outlet", "本店不适用", "该优惠不在南京东路店使用"),
])
def test_refusals_are_shown_in_large_type_without_a_confirm_button(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session, case: str, headline: str, fact: str) -> None:
    sign_in(client, services, shop["clerk"])
    code = {"unknown": "ZZZZZ-ZZZZZ", "garbage": "<b>1</b>", "expired": shop["stale"],
            "wrong_outlet": shop["other"]}[case]
    r = client.get(TILL, params={"code": code})
    assert r.status_code == 200
    assert 'class="verdict refused' in r.text and "<b>1</b>" not in r.text
    text = _text(r.text)
    assert headline in text and fact in text
    assert 'action="/staff/till/redeem"' not in r.text


def test_redeemed_exactly_once_and_a_second_try_says_when_and_where(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["clerk"])
    code = shop["fresh"]
    page = client.get(TILL, params={"code": display_code(code)})
    form = {"csrf": csrf_of(page.text), "code": code, "outlet_id": str(shop["here"])}
    r = client.post(f"{TILL}/redeem", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    done = client.get(r.headers["location"])
    coupon = session.scalar(sa.select(Coupon).where(Coupon.code == code))
    assert coupon is not None and coupon.redeemed_at is not None
    assert coupon.redeemed_by == shop["clerk"]
    first = _local(coupon.redeemed_at)
    session.rollback()
    text = _text(done.text)
    assert "核销成功" in text and f"核销时间 {first}" in text and "第二杯半价" in text
    assert _state(session)[1] == 1

    # The same form again (a double tap, a reload): refused, with the first's time and place.
    again = client.post(f"{TILL}/redeem", data=form, follow_redirects=False)
    assert again.status_code == 409
    text = _text(again.text)
    assert "已被使用" in text and f"核销时间 {first}" in text
    assert f"核销门店 南京东路店（{shop['here_code']}）" in text
    # And a fresh scan of it later reads the same, never as a success.
    later = _text(client.get(TILL, params={"code": code}).text)
    assert "已被使用" in later and "核销成功" not in later and f"核销时间 {first}" in later
    rows, events = _state(session)
    assert sorted(rows, key=str) == sorted([("redeemed", shop["here"]), ("claimed", None),
                                            ("claimed", None)], key=str)
    assert events == 1


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session, csrf: str | None) -> None:
    sign_in(client, services, shop["clerk"])
    before = _state(session)
    form = {"code": shop["fresh"], "outlet_id": str(shop["here"])}
    if csrf is not None:
        form["csrf"] = csrf
    r = client.post(f"{TILL}/redeem", data=form, follow_redirects=False)
    assert r.status_code == 403 and "页面已失效" in r.text
    r = client.post(f"{TILL}/outlet", data={k: v for k, v in form.items() if k != "code"},
                    follow_redirects=False)
    assert r.status_code == 403
    assert _state(session) == before
    assert session.scalars(sa.select(StaffSession.outlet_id)).all() == [None]


@pytest.mark.parametrize("fields,status,words", [
    ({"outlet_id": None}, 422, "填写有误"),
    ({"outlet_id": "x"}, 422, "填写有误"),
    ({"outlet_id": "0"}, 422, "填写有误"),
    ({"outlet_id": "9" * 20}, 422, "填写有误"),
    ({"code": None}, 404, "券码无效"),
    ({"code": "A" * 500}, 404, "券码无效"),
    ({"code": "<script>"}, 404, "券码无效"),
])
def test_malformed_redemptions_get_a_clear_page_and_write_nothing(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session, fields: dict, status: int,
        words: str) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    before = _state(session)
    form = {"csrf": csrf, "code": shop["fresh"], "outlet_id": str(shop["here"]), **fields}
    r = client.post(f"{TILL}/redeem", data={k: v for k, v in form.items() if v is not None},
                    follow_redirects=False)
    assert r.status_code == status and words in _text(r.text)
    assert "<script>" not in r.text.split("<main>")[-1]
    assert _state(session) == before


def test_another_stores_outlet_is_refused_and_nothing_is_written(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["stranger"])
    page = client.get(TILL)
    assert "西湖店" in _text(page.text)
    before = _state(session)
    form = {"csrf": csrf_of(page.text), "code": shop["fresh"],
            "outlet_id": str(shop["here"])}
    r = client.post(f"{TILL}/redeem", data=form, follow_redirects=False)
    assert r.status_code == 404 and "找不到" in r.text
    r = client.post(f"{TILL}/outlet", data={"csrf": form["csrf"], "outlet_id": form["outlet_id"]},
                    follow_redirects=False)
    assert r.status_code == 404
    assert client.get(TILL, params={"outlet_id": shop["here"],
                                    "code": shop["fresh"]}).status_code == 404
    assert client.get(TILL, params={"outlet_id": "9" * 20}).status_code == 422
    # At their own outlet the offer does not run: refused as such, still nothing written.
    form["outlet_id"] = str(shop["there"])
    r = client.post(f"{TILL}/redeem", data=form, follow_redirects=False)
    assert r.status_code == 409 and "本店不适用" in _text(r.text)
    assert _state(session) == before
    assert session.scalars(sa.select(StaffSession.outlet_id)).all() == [None]


def test_someone_with_several_outlets_picks_one_and_it_is_remembered(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["roamer"])
    page = client.get(TILL)
    assert "选择当前门店" in page.text and 'id="code-form"' not in page.text
    names = re.findall(r"<option [^>]*>([^<（]+)（", page.text)
    assert sorted(names) == sorted(["南京东路店", "人民广场店"])
    r = client.post(f"{TILL}/outlet", data={"csrf": csrf_of(page.text),
                                            "outlet_id": str(shop["also"])},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, TILL)
    page = client.get(TILL)
    assert "门店： 人民广场店" in _text(page.text) and 'id="code-form"' in page.text
    assert 'href="/staff/till?pick=1"' in page.text
    # The offer of `also` is valid here; `here`'s is not.
    assert "可以核销" in _text(client.get(TILL, params={"code": shop["other"]}).text)
    assert "本店不适用" in _text(client.get(TILL, params={"code": shop["fresh"]}).text)
    assert session.scalars(sa.select(StaffSession.outlet_id)).all() == [shop["also"]]


def test_a_manager_picks_from_the_outlets_of_their_regions_and_may_search(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["manager"])
    page = client.get(TILL)
    assert sorted(re.findall(r"<option [^>]*>([^<（]+)（", page.text)) == \
        sorted(["南京东路店", "人民广场店"])  # not the south's 西湖店
    found = client.get(TILL, params={"pick": 1, "q": "人民"})
    assert re.findall(r"<option [^>]*>([^<（]+)（", found.text) == ["人民广场店"]
    assert "共 1 家门店" in _text(found.text)
    assert client.get(TILL, params={"outlet_id": shop["there"]}).status_code == 404


def test_a_success_reads_as_such_only_to_whoever_redeemed_it(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    r = client.post(f"{TILL}/redeem", data={"csrf": csrf, "code": shop["fresh"],
                                            "outlet_id": str(shop["here"])},
                    follow_redirects=False)
    assert r.status_code == 303
    sign_in(client, services, shop["roamer"])  # a colleague opens the same success URL
    page = _text(client.get(r.headers["location"]).text)
    assert "已被使用" in page and "核销成功" not in page
    assert _state(session)[1] == 1


def test_the_page_allows_the_camera_and_nothing_from_elsewhere(  # type: ignore[no-untyped-def]
        client, services, shop, session: Session) -> None:
    sign_in(client, services, shop["clerk"])
    r = client.get(TILL)
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    # Script (and the .wasm it fetches, under default-src) only from here: no CDN.
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'" and csp["default-src"] == "'self'"
    assert "connect-src" not in csp and "unsafe-inline" not in str(csp)
    assert "camera=(self)" in r.headers["permissions-policy"]
    # No inline script: every <script> has a same-origin src, and the decoder is ours.
    scripts = re.findall(r"<script\b([^>]*)>", r.text)
    assert scripts and all(re.search(r'src="/static/', s) for s in scripts)
    wasm = re.search(r'data-zxing-wasm="([^"]+)"', r.text)
    assert wasm is not None
    served = client.get(wasm.group(1))
    assert served.status_code == 200 and served.headers["content-type"] == "application/wasm"
    assert served.content[:4] == b"\0asm"
    js = re.search(r'data-zxing-js="([^"]+)"', r.text)
    assert js is not None and client.get(js.group(1)).status_code == 200
    assert client.get("/static/staff/till.js").status_code == 200


def test_without_a_session_the_till_sends_to_sign_in(client, services, shop, session: Session) -> None:  # type: ignore[no-untyped-def]
    r = client.get(TILL, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin")
    r = client.post(f"{TILL}/redeem", data={"code": shop["fresh"],
                                            "outlet_id": str(shop["here"])},
                    follow_redirects=False)
    assert r.status_code == 303
    assert _state(session)[1] == 0
