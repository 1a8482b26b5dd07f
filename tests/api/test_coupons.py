"""POST /api/v1/coupons/redeem: staff only, scoped, once, with a distinct answer per refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.coupons.models import Coupon
from o2o.coupons.service import claim
from tests.factories import make_outlet, make_region
from tests.factories_loop import a_customer, make_coupon_promotion
from tests.factories_staff import bearer, make_token

URL = "/api/v1/coupons/redeem"


@pytest.fixture
def shop(session: Session):  # type: ignore[no-untyped-def]
    region, other_region = make_region(session), make_region(session)
    here = make_outlet(session, region=region)
    there = make_outlet(session, region=other_region, lat=30.0)
    promo = make_coupon_promotion(session, outlets=[here], title="第二杯半价")
    now = datetime.now(UTC)
    fresh = claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                  query_id="c" * 32, now=now)
    stale = claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                  query_id=None, now=now - timedelta(days=30))
    clerk = make_token(session, "staff", outlets=[here])
    stranger = make_token(session, "staff", outlets=[there])
    manager = make_token(session, "manager", regions=[other_region])
    session.commit()
    return {"here": here, "there": there, "fresh": fresh, "stale": stale, "clerk": clerk,
            "stranger": stranger, "manager": manager}


def _state(session: Session) -> tuple[list[str], int]:
    statuses = sorted(str(s) for s in session.scalars(sa.select(Coupon.status)))
    events = session.scalar(sa.select(sa.func.count()).select_from(Event)
                            .where(Event.type == "redemption"))
    session.rollback()
    return statuses, events


def test_redeem_once(client, shop, session: Session) -> None:  # type: ignore[no-untyped-def]
    code = shop["fresh"].code
    r = client.post(URL, json={"code": f"{code[:5]}-{code[5:]}".lower()},
                    headers=bearer(shop["clerk"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "redeemed" and body["promotion_title"] == "第二杯半价"
    assert body["redeemed_outlet_id"] == shop["here"].id
    again = client.post(URL, json={"code": code, "outlet_id": shop["here"].id},
                        headers=bearer(shop["clerk"]))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "coupon_already_redeemed"
    assert error["details"]["redeemed_at"] == body["redeemed_at"].replace("Z", "+00:00")
    assert _state(session) == (["claimed", "redeemed"], 1)


@pytest.mark.parametrize("case,status,code", [
    ("unknown", 404, "coupon_unknown"),
    ("garbage", 404, "coupon_unknown"),
    ("expired", 410, "coupon_expired"),
    ("wrong_outlet", 409, "coupon_wrong_outlet"),
    ("out_of_scope", 404, "not_found"),
    ("manager_elsewhere", 404, "not_found"),
    ("no_outlet", 422, "outlet_required"),
])
def test_refusals_are_distinct_and_write_nothing(client, shop, session: Session, case: str,  # type: ignore[no-untyped-def]
                                                 status: int, code: str) -> None:
    token, body = shop["clerk"], {"code": shop["fresh"].code}
    if case == "unknown":
        body["code"] = "ZZZZZ-ZZZZZ"
    elif case == "garbage":
        body["code"] = "<script>"
    elif case == "expired":
        body["code"] = shop["stale"].code
    elif case == "wrong_outlet":
        token, body["outlet_id"] = shop["stranger"], shop["there"].id
    elif case == "out_of_scope":
        body["outlet_id"] = shop["there"].id
    elif case == "manager_elsewhere":
        token, body["outlet_id"] = shop["manager"], shop["here"].id
    elif case == "no_outlet":
        token = shop["manager"]
    r = client.post(URL, json=body, headers=bearer(token))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert _state(session) == (["claimed", "claimed"], 0)


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 123}, {"code": "A" * 65},
                                  {"code": "ABCDE23456", "outlet_id": "x"},
                                  {"code": "ABCDE23456", "outlet_id": 0},
                                  {"code": "ABCDE23456", "extra": 1}])
def test_malformed_bodies_are_422(client, shop, session: Session, body: dict) -> None:  # type: ignore[no-untyped-def]
    r = client.post(URL, json=body, headers=bearer(shop["clerk"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert _state(session) == (["claimed", "claimed"], 0)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer o2o_nope"},
                                     {"Authorization": "Basic abc"}])
def test_staff_only(client, shop, session: Session, headers: dict) -> None:  # type: ignore[no-untyped-def]
    r = client.post(URL, json={"code": shop["fresh"].code}, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert _state(session) == (["claimed", "claimed"], 0)


def _look(client, code: str, token: str | None, **query):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/coupons/{code}", params=query,
                      headers=bearer(token) if token else {})


def test_a_lookup_says_whether_the_till_may_honour_the_coupon_and_changes_nothing(  # type: ignore[no-untyped-def]
        client, shop, session: Session) -> None:
    code, stale_code = shop["fresh"].code, shop["stale"].code
    expired_on = shop["stale"].expires_at.date().isoformat()
    before = _state(session)  # and the test's session lets go of SQLite's lock
    r = _look(client, f"{code[:5]}-{code[5:]}".lower(), shop["clerk"])  # as typed at the till
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["redeemable"], body["refusal"], body["outlet_id"],
            body["promotion_title"]) == ("claimed", True, None, shop["here"].id, "第二杯半价")
    assert _state(session) == before  # looked at, not redeemed, no event
    stale = _look(client, stale_code, shop["clerk"]).json()
    assert stale["redeemable"] is False and stale["refusal"]["code"] == "coupon_expired"
    assert stale["refusal"]["details"]["expired_at"].startswith(expired_on)
    assert client.post(URL, json={"code": code}, headers=bearer(shop["clerk"])).status_code == 200
    used = _look(client, code, shop["clerk"]).json()
    assert used["status"] == "redeemed" and used["redeemable"] is False
    assert used["refusal"]["code"] == "coupon_already_redeemed"
    assert used["refusal"]["details"]["outlet_id"] == body["outlet_id"]


def test_a_lookup_at_an_outlet_the_offer_does_not_cover_says_so(  # type: ignore[no-untyped-def]
        client, shop, session: Session) -> None:
    admin = make_token(session, "admin")
    session.commit()
    r = _look(client, shop["fresh"].code, admin, outlet_id=shop["there"].id)
    assert r.status_code == 200 and r.json()["refusal"]["code"] == "coupon_wrong_outlet"
    assert _look(client, shop["fresh"].code, admin).json()["error"]["code"] == "outlet_required"


@pytest.mark.parametrize(("who", "code", "query", "status", "error"), [
    ("stranger", "fresh", {"outlet_id": "here"}, 404, "not_found"),  # not their outlet
    ("manager", "fresh", {"outlet_id": "here"}, 404, "not_found"),  # not their region
    ("clerk", "ZZZZZ-ZZZZZ", {}, 404, "coupon_unknown"),
    ("clerk", "no such code!", {}, 404, "coupon_unknown"),
    ("clerk", "x" * 65, {}, 422, "validation_error"),
    ("clerk", "fresh", {"outlet_id": "0"}, 422, "validation_error"),
    (None, "fresh", {}, 401, "unauthenticated"),
])
def test_lookup_refusals(client, shop, session: Session, who, code, query, status,  # type: ignore[no-untyped-def]
                         error) -> None:
    code = shop[code].code if code in shop else code
    query = {k: shop[v].id if v in shop else v for k, v in query.items()}
    before = _state(session)
    r = _look(client, code, shop[who] if who else None, **query)
    assert (r.status_code, r.json()["error"]["code"]) == (status, error), r.text
    assert _state(session) == before
