"""Builders for the customer loop: coupon promotions, customer hashes, principals."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet, Promotion, Region
from o2o.customers.identity import customer_hash
from o2o.db.writer import BatchWriter
from o2o.staff.models import Role
from o2o.staff.principal import Principal
from o2o.staff.tokens import principal_for
from tests.factories import make_promotion
from tests.factories_staff import make_staff

HASH_KEY = "test-customer-hash-key"  # matches the `settings` fixture
NOW = datetime(2026, 5, 6, 4, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Shanghai
_seq = itertools.count(1)


def a_customer(n: int | None = None) -> str:
    """The keyed hash of a made-up openid, as the WeChat layer would compute it."""
    return customer_hash(f"oOpenId-test-{n if n is not None else next(_seq)}", HASH_KEY)


def make_coupon_promotion(session: Session, *, total: int | None = 100, per_customer: int = 1,
                          valid_days: int = 7, outlets: list[Outlet] | None = None,
                          **kw: object) -> Promotion:
    """A published promotion that offers coupons."""
    kw.setdefault("coupon_enabled", True)
    return make_promotion(session, outlets=outlets, coupon_total=total,
                          coupon_per_customer=per_customer, coupon_valid_days=valid_days,
                          **kw)


def make_principal(session: Session, role: Role | str = Role.STAFF, *,
                   outlets: Sequence[Outlet] = (), regions: Sequence[Region] = ()) -> Principal:
    """A staff member of `role` with that scope, as the API would see them."""
    return principal_for(make_staff(session, role, outlets=outlets, regions=regions))


def stall(writer: BatchWriter) -> threading.Event:
    """Hang the writer as a stuck database would, until the returned event is set. When
    this returns the writer is inside the hanging batch, so what is submitted next queues."""
    started, release = threading.Event(), threading.Event()

    def hang(_session: object) -> None:
        started.set()
        release.wait(10)

    writer.submit(work=hang)
    assert started.wait(10), "the writer did not take the hanging batch"
    return release
