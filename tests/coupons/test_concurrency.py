"""Exactly once under fire: 1,000 simultaneous redemptions of one code, and claims racing
for the last coupons, on SQLite and PostGIS, each thread on its own connection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.analytics.models import Event
from o2o.catalog.models import Promotion
from o2o.coupons.models import Coupon, CouponStatus
from o2o.coupons.service import claim, redeem
from o2o.db.engine import make_engine, make_sessionmaker, transaction
from o2o.errors import O2OError
from tests.factories import make_outlet
from tests.factories_loop import NOW, a_customer, make_coupon_promotion, make_principal

pytestmark = pytest.mark.slow

#: Connections per test: PostgreSQL allows 100 in all and other tests share the server.
POOL = 20


@pytest.fixture
def racing(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions from a pool wide enough that many threads really do hit the database at once."""
    engine = make_engine(db_url, pool_size=POOL, max_overflow=0, pool_timeout=120)
    yield make_sessionmaker(engine)
    engine.dispose()


def _race(n: int, sessions: sessionmaker[Session],
          work: Callable[[Session, int], object]) -> Counter[str]:
    """Run `work` in n threads released together; count outcomes by error code."""
    gate = threading.Barrier(n)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        gate.wait()
        try:
            with transaction(sessions) as session:
                work(session, i)
            result = "ok"
        except O2OError as exc:
            result = exc.code
        except Exception as exc:  # counted and asserted below, never hidden
            result = f"crash:{type(exc).__name__}:{exc}"
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_a_thousand_simultaneous_redemptions_one_success(
        racing: sessionmaker[Session]) -> None:
    with transaction(racing) as s:
        outlet = make_outlet(s)
        promo = make_coupon_promotion(s)
        code = claim(s, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=outlet.id,
                     query_id="q" * 32, now=NOW).code
        clerk = make_principal(s, outlets=[outlet])
        outlet_id = outlet.id

    outcomes = _race(1000, racing, lambda s, _i: redeem(s, code=code, outlet_id=outlet_id,
                                                        principal=clerk, now=NOW))

    assert outcomes == Counter({"ok": 1, "coupon_already_redeemed": 999})
    with racing() as s:
        assert s.scalar(sa.select(Coupon.status).where(Coupon.code == code)) == \
            CouponStatus.REDEEMED
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)
                        .where(Event.type == "redemption")) == 1


def test_claims_racing_for_the_last_coupons_never_exceed_the_total(
        racing: sessionmaker[Session]) -> None:
    with transaction(racing) as s:
        promo_id = make_coupon_promotion(s, total=25).id
    customers = [a_customer() for _ in range(200)]

    outcomes = _race(200, racing, lambda s, i: claim(
        s, promotion_id=promo_id, customer_hash=customers[i], outlet_id=None, query_id=None,
        now=NOW))

    assert outcomes == Counter({"ok": 25, "coupons_sold_out": 175})
    with racing() as s:
        assert s.scalar(sa.select(Promotion.coupon_claimed)
                        .where(Promotion.id == promo_id)) == 25
        assert s.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 25
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)
                        .where(Event.type == "claim")) == 25


def test_one_customer_tapping_claim_many_times_gets_their_limit(
        racing: sessionmaker[Session]) -> None:
    with transaction(racing) as s:
        promo_id = make_coupon_promotion(s, total=100, per_customer=2).id
    who = a_customer()

    outcomes = _race(40, racing, lambda s, _i: claim(
        s, promotion_id=promo_id, customer_hash=who, outlet_id=None, query_id=None, now=NOW))

    assert outcomes == Counter({"ok": 2, "coupon_limit_reached": 38})
    with racing() as s:
        assert s.scalar(sa.select(Promotion.coupon_claimed)
                        .where(Promotion.id == promo_id)) == 2
        assert sorted(s.scalars(sa.select(Coupon.claim_no))) == [1, 2]
