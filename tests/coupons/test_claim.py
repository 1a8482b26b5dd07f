"""Claiming coupons: limits, validity, where the offer runs, and nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.catalog.models import Promotion
from o2o.coupons.errors import CouponLimitReached, CouponsSoldOut, CouponUnavailable
from o2o.coupons.models import Coupon, CouponStatus
from o2o.coupons.service import claim, coupons_held
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_loop import NOW, a_customer, make_coupon_promotion


def _counts(session: Session, promo: Promotion) -> tuple[int, int, int]:
    """(coupon_claimed, coupon rows, claim events) for one promotion, as committed."""
    session.expire_all()
    claimed = session.scalar(sa.select(Promotion.coupon_claimed).where(Promotion.id == promo.id))
    rows = session.scalar(sa.select(sa.func.count()).select_from(Coupon)
                          .where(Coupon.promotion_id == promo.id))
    events = session.scalar(sa.select(sa.func.count()).select_from(Event)
                            .where(Event.type == "claim", Event.promotion_id == promo.id))
    return claimed, rows, events


def test_claim_gives_a_code_valid_for_the_promotions_days_and_one_event(session: Session) -> None:
    outlet = make_outlet(session)
    promo = make_coupon_promotion(session, valid_days=3)
    who = a_customer()
    coupon = claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=outlet.id,
                   query_id="q" * 32, now=NOW)
    session.commit()
    assert len(coupon.code) == 10 and coupon.status == CouponStatus.CLAIMED
    assert coupon.expires_at == NOW + timedelta(days=3)
    assert coupon.outlet_id == outlet.id and coupon.claim_no == 1
    assert _counts(session, promo) == (1, 1, 1)
    event = session.scalars(sa.select(Event).where(Event.type == "claim")).one()
    assert (event.customer_hash, event.query_id, event.outlet_id, event.promotion_id) == \
        (who, "q" * 32, outlet.id, promo.id)


def test_expiry_never_outlives_the_promotion(session: Session) -> None:
    end = NOW + timedelta(hours=5)
    promo = make_coupon_promotion(session, valid_days=30, valid_until=end)
    coupon = claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
                   query_id=None, now=NOW)
    assert coupon.expires_at == end


def test_one_per_customer_by_default(session: Session) -> None:
    promo = make_coupon_promotion(session)
    who = a_customer()
    claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=None, query_id=None,
          now=NOW)
    session.commit()
    with pytest.raises(CouponLimitReached) as err:
        claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=None, query_id=None,
              now=NOW)
    session.rollback()
    assert err.value.code == "coupon_limit_reached"
    assert _counts(session, promo) == (1, 1, 1)
    # Someone else still can.
    claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
          query_id=None, now=NOW)


def test_per_customer_limit_of_two_numbers_the_claims(session: Session) -> None:
    promo = make_coupon_promotion(session, per_customer=2)
    who = a_customer()
    first = claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=None,
                  query_id=None, now=NOW)
    second = claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=None,
                   query_id=None, now=NOW)
    assert (first.claim_no, second.claim_no) == (1, 2) and first.code != second.code
    with pytest.raises(CouponLimitReached):
        claim(session, promotion_id=promo.id, customer_hash=who, outlet_id=None,
              query_id=None, now=NOW)
    assert [c.claim_no for c in coupons_held(session, customer_hash=who,
                                             promotion_id=promo.id)] == [2, 1]


def test_sold_out_leaves_nothing_half_written(session: Session) -> None:
    promo = make_coupon_promotion(session, total=1)
    claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
          query_id=None, now=NOW)
    session.commit()
    with pytest.raises(CouponsSoldOut) as err:
        claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
              query_id=None, now=NOW)
    assert err.value.code == "coupons_sold_out"
    session.commit()  # even committing after the refusal writes nothing
    assert _counts(session, promo) == (1, 1, 1)


def test_unlimited_total(session: Session) -> None:
    promo = make_coupon_promotion(session, total=None)
    for _ in range(5):
        claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
              query_id=None, now=NOW)
    session.commit()
    assert _counts(session, promo) == (5, 5, 5)


@pytest.mark.parametrize("change", [
    {"coupon_enabled": False},
    {"status": "draft"},
    {"status": "archived"},
    {"valid_from": NOW + timedelta(minutes=1)},
    {"valid_until": NOW},
])
def test_no_coupon_when_the_offer_is_not_running(session: Session, change: dict) -> None:
    promo = make_coupon_promotion(session, **change)
    with pytest.raises(CouponUnavailable):
        claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
              query_id=None, now=NOW)
    session.commit()
    assert _counts(session, promo) == (0, 0, 0)


def test_unknown_promotion(session: Session) -> None:
    with pytest.raises(CouponUnavailable):
        claim(session, promotion_id=999_999, customer_hash=a_customer(), outlet_id=None,
              query_id=None, now=NOW)


def test_only_at_outlets_where_the_offer_runs(session: Session) -> None:
    north, south = make_region(session), make_region(session)
    here = make_outlet(session, region=north)
    there = make_outlet(session, region=south, lat=30.0)
    closed = make_outlet(session, region=north, lat=32.0, status="closed")
    by_region = make_coupon_promotion(session, scope="region", region_id=north.id)
    listed = make_coupon_promotion(session, outlets=[here])
    for promo in (by_region, listed):
        claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
              query_id=None, now=NOW)
        for outlet_id in (there.id, closed.id, 999_999):
            with pytest.raises(CouponUnavailable):
                claim(session, promotion_id=promo.id, customer_hash=a_customer(),
                      outlet_id=outlet_id, query_id=None, now=NOW)
    deleted = make_outlet(session, lat=33.0, deleted_at=NOW - timedelta(days=1))
    everywhere = make_coupon_promotion(session)
    with pytest.raises(CouponUnavailable):
        claim(session, promotion_id=everywhere.id, customer_hash=a_customer(),
              outlet_id=deleted.id, query_id=None, now=NOW)


def test_claim_does_not_bump_the_promotion_version(session: Session) -> None:
    """Admins edit promotions with optimistic locking: claims must not make their edit fail."""
    promo = make_promotion(session, coupon_enabled=True, coupon_total=10)
    session.commit()
    version = promo.version
    claim(session, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=None,
          query_id=None, now=datetime.now(UTC))
    session.commit()
    session.refresh(promo)
    assert promo.version == version and promo.coupon_claimed == 1
