"""What the till shows: check()'s verdicts in the cashier's words and the outlet's local time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from o2o.coupons.codes import display_code
from o2o.coupons.service import claim, redeem
from o2o.coupons.till import Verdict, till_result
from o2o.errors import NotFound
from tests.factories import make_outlet, make_region
from tests.factories_loop import NOW, a_customer, make_coupon_promotion, make_principal


@pytest.fixture
def shop(session: Session):  # type: ignore[no-untyped-def]
    """An offer at two outlets of one region, one of them in Tokyo (UTC+9, not Shanghai's +8)."""
    region = make_region(session)
    here = make_outlet(session, region=region, name="南京东路店")
    tokyo = make_outlet(session, region=region, name="银座店", timezone="Asia/Tokyo", lat=35.67,
                        lng=139.77)
    promo = make_coupon_promotion(session, scope="region", region_id=region.id, valid_days=2,
                                  title="第二杯半价")
    coupon = claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                   query_id=None, now=NOW)  # NOW is 12:00 in Shanghai
    session.commit()
    return {"here": here, "tokyo": tokyo, "coupon": coupon}


def test_valid_shows_the_claim_time_in_the_outlets_own_time(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"], shop["tokyo"]])
    code = shop["coupon"].code
    for outlet, claimed in (("here", "2026-05-06 12:00"), ("tokyo", "2026-05-06 13:00")):
        result = till_result(session, code=display_code(code).lower(),
                             outlet_id=shop[outlet].id, principal=clerk, now=NOW)
        assert (result.verdict, result.ok, result.code) == (Verdict.VALID, True, code)
        assert result.promotion_title == "第二杯半价"
        assert dict(result.facts)["领取时间"] == claimed


def test_already_redeemed_says_when_and_where_and_success_only_to_the_redeemer(
        session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["tokyo"]])
    colleague = make_principal(session, outlets=[shop["here"], shop["tokyo"]])
    code = shop["coupon"].code
    redeem(session, code=code, outlet_id=shop["tokyo"].id, principal=clerk,
           now=NOW + timedelta(minutes=30))
    session.commit()
    mine = till_result(session, code=code, outlet_id=shop["tokyo"].id, principal=clerk,
                       now=NOW, just_redeemed=True)
    assert (mine.verdict, mine.headline, mine.code) == (Verdict.REDEEMED, "核销成功", None)
    for who, outlet, just in ((clerk, "tokyo", False), (colleague, "tokyo", True),
                              (colleague, "here", False)):
        seen = till_result(session, code=code, outlet_id=shop[outlet].id, principal=who,
                           now=NOW, just_redeemed=just)
        assert (seen.verdict, seen.ok, seen.code) == (Verdict.ALREADY_REDEEMED, False, None)
        facts = dict(seen.facts)
        assert facts["核销时间"] == ("2026-05-06 12:30" if outlet == "here" else
                                  "2026-05-06 13:30")  # shown in the till's own time
        assert facts["核销门店"] == f"银座店（{shop['tokyo'].code}）"


def test_expired_and_unknown(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    late = till_result(session, code=shop["coupon"].code, outlet_id=None, principal=clerk,
                       now=NOW + timedelta(days=3))
    assert (late.verdict, late.headline) == (Verdict.EXPIRED, "已过期")
    assert dict(late.facts)["过期时间"] == "2026-05-08 12:00"
    for typed, shown in (("zzzzz zzzzz", "ZZZZZ-ZZZZZ"), (" 不是券码 ", "不是券码")):
        unknown = till_result(session, code=typed, outlet_id=None, principal=clerk, now=NOW)
        assert (unknown.verdict, unknown.shown_code, unknown.promotion_title) == \
            (Verdict.UNKNOWN, shown, None)


def test_an_outlet_out_of_scope_raises_like_check(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    with pytest.raises(NotFound):
        till_result(session, code="ZZZZZZZZZZ", outlet_id=shop["tokyo"].id, principal=clerk,
                    now=NOW)
