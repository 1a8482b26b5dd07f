"""Redeeming in store: one success, and a distinct answer for every way it can fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.coupons.codes import display_code
from o2o.coupons.errors import (
    CouponAlreadyRedeemed,
    CouponExpired,
    CouponOutletRequired,
    CouponUnknown,
    CouponWrongOutlet,
)
from o2o.coupons.models import Coupon, CouponStatus
from o2o.coupons.service import claim, redeem
from o2o.errors import NotFound
from tests.factories import make_outlet, make_region
from tests.factories_loop import NOW, a_customer, make_coupon_promotion, make_principal


@pytest.fixture
def shop(session: Session):  # type: ignore[no-untyped-def]
    """Two regions, an outlet in each, a coupon claimed at `here` for a region-wide offer."""
    north, south = make_region(session), make_region(session)
    here = make_outlet(session, region=north)
    also = make_outlet(session, region=north, lat=31.3)
    there = make_outlet(session, region=south, lat=30.0)
    promo = make_coupon_promotion(session, scope="region", region_id=north.id, valid_days=2)
    coupon = claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                   query_id="a" * 32, now=NOW)
    session.commit()
    return {"north": north, "south": south, "here": here, "also": also, "there": there,
            "promo": promo, "coupon": coupon}


def _redemptions(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Event)
                          .where(Event.type == "redemption"))


def _status(session: Session, coupon: Coupon) -> CouponStatus:
    return session.scalar(sa.select(Coupon.status).where(Coupon.id == coupon.id))


def test_redeem_marks_the_coupon_and_records_one_event(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    coupon = shop["coupon"]
    at = NOW + timedelta(hours=1)
    done = redeem(session, code=coupon.code, outlet_id=shop["here"].id, principal=clerk, now=at)
    session.commit()
    assert done.status == CouponStatus.REDEEMED and done.redeemed_at == at
    assert (done.redeemed_outlet_id, done.redeemed_by) == (shop["here"].id, clerk.staff_id)
    event = session.scalars(sa.select(Event).where(Event.type == "redemption")).one()
    assert (event.query_id, event.customer_hash, event.outlet_id, event.promotion_id) == \
        ("a" * 32, coupon.customer_hash, shop["here"].id, shop["promo"].id)


def test_code_as_typed_at_the_till(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    typed = display_code(shop["coupon"].code).lower().replace("-", " ")
    assert redeem(session, code=typed, outlet_id=None, principal=clerk,
                  now=NOW).status == CouponStatus.REDEEMED


def test_second_redemption_says_when(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"], shop["also"]])
    redeem(session, code=shop["coupon"].code, outlet_id=shop["here"].id, principal=clerk,
           now=NOW)
    session.commit()
    with pytest.raises(CouponAlreadyRedeemed) as err:
        redeem(session, code=shop["coupon"].code, outlet_id=shop["also"].id, principal=clerk,
               now=NOW + timedelta(minutes=5))
    assert err.value.code == "coupon_already_redeemed"
    assert err.value.details == {"redeemed_at": NOW.isoformat(), "outlet_id": shop["here"].id}
    assert NOW.strftime("%Y-%m-%d %H:%M") in err.value.message
    session.rollback()
    assert _redemptions(session) == 1


@pytest.mark.parametrize("code", ["ZZZZZ-ZZZZZ", "not a code", "", "A" * 500])
def test_unknown_code(session: Session, shop: dict, code: str) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    with pytest.raises(CouponUnknown) as err:
        redeem(session, code=code, outlet_id=shop["here"].id, principal=clerk, now=NOW)
    assert err.value.code == "coupon_unknown"


def test_expired(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["here"]])
    with pytest.raises(CouponExpired) as err:
        redeem(session, code=shop["coupon"].code, outlet_id=shop["here"].id, principal=clerk,
               now=NOW + timedelta(days=2))
    assert err.value.code == "coupon_expired"
    session.rollback()
    assert _status(session, shop["coupon"]) == CouponStatus.CLAIMED and _redemptions(session) == 0


def test_wrong_outlet(session: Session, shop: dict) -> None:
    """The offer runs in the north region only; a southern till cannot take it."""
    clerk = make_principal(session, outlets=[shop["there"]])
    with pytest.raises(CouponWrongOutlet) as err:
        redeem(session, code=shop["coupon"].code, outlet_id=shop["there"].id, principal=clerk,
               now=NOW)
    assert err.value.code == "coupon_wrong_outlet"
    session.rollback()
    assert _status(session, shop["coupon"]) == CouponStatus.CLAIMED and _redemptions(session) == 0


def test_any_outlet_where_the_offer_runs_may_redeem(session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["also"]])
    assert redeem(session, code=shop["coupon"].code, outlet_id=None, principal=clerk,
                  now=NOW).redeemed_outlet_id == shop["also"].id


def test_outside_the_callers_scope_is_refused_before_the_code_is_looked_at(
        session: Session, shop: dict) -> None:
    clerk = make_principal(session, outlets=[shop["also"]])
    manager = make_principal(session, "manager", regions=[shop["south"]])
    for who in (clerk, manager):
        for code in (shop["coupon"].code, "ZZZZZZZZZZ"):
            with pytest.raises(NotFound) as err:
                redeem(session, code=code, outlet_id=shop["here"].id, principal=who, now=NOW)
            assert err.value.code == "not_found"  # not coupon_unknown: nothing is revealed
    with pytest.raises(NotFound):
        redeem(session, code=shop["coupon"].code, outlet_id=999_999, principal=clerk, now=NOW)
    session.rollback()
    assert _status(session, shop["coupon"]) == CouponStatus.CLAIMED and _redemptions(session) == 0


def test_deleted_outlet_cannot_redeem(session: Session, shop: dict) -> None:
    admin = make_principal(session, "admin")
    shop["here"].deleted_at = NOW
    session.flush()
    with pytest.raises(NotFound):
        redeem(session, code=shop["coupon"].code, outlet_id=shop["here"].id, principal=admin,
               now=NOW)


def test_manager_and_admin_redeem_in_scope(session: Session, shop: dict) -> None:
    manager = make_principal(session, "manager", regions=[shop["north"]])
    assert redeem(session, code=shop["coupon"].code, outlet_id=shop["here"].id,
                  principal=manager, now=NOW).status == CouponStatus.REDEEMED
    other = claim(session, promotion_id=shop["promo"].id, customer_hash=a_customer(),
                  outlet_id=None, query_id=None, now=NOW)
    admin = make_principal(session, "admin")
    assert redeem(session, code=other.code, outlet_id=shop["also"].id, principal=admin,
                  now=NOW).redeemed_by == admin.staff_id


def test_outlet_must_be_named_unless_the_caller_has_exactly_one(session: Session,
                                                                shop: dict) -> None:
    for who in (make_principal(session, outlets=[shop["here"], shop["also"]]),
                make_principal(session, "admin")):
        with pytest.raises(CouponOutletRequired) as err:
            redeem(session, code=shop["coupon"].code, outlet_id=None, principal=who, now=NOW)
        assert err.value.code == "outlet_required"
