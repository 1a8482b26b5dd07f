"""Reminder tests: the app's Official Account on WeChat's stand-in, pushes as WeChat sends
them (signed and encrypted), coupons made directly with the expiry a test needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from o2o.config import Settings
from o2o.coupons.models import Coupon
from o2o.customers.identity import customer_hash
from o2o.reminders.models import CouponReminder
from o2o.wechat.platform import WeChatPlatform, build_platform
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.standin_http import running
from o2o.wechat.simulator import build_request, event_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_promotion
from tests.wechat.platform.conftest import SECRET, TEMPLATE, TIMING, Clock

TOKEN, APPID = "test-token", "wxtestappid0001"
OPENID = "o_reminded_customer"
#: When the tests start: pushes are handled at the real time, so coupons expire after it;
#: the job is driven with an explicit `now` from here.
T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def standin(clock: Clock) -> StandIn:
    return StandIn(appid=APPID, secret=SECRET, clock=clock, template_ids={TEMPLATE})


@pytest.fixture
def standin_url(standin: StandIn) -> Iterator[str]:
    with running(standin) as url:
        yield url


@pytest.fixture
def settings(settings: Settings, standin_url: str) -> Settings:
    return settings.model_copy(update={
        "wechat_api_base": standin_url, "wechat_secret": SECRET, "wechat_api_retries": 1,
        "wechat_subscribe_template_id": TEMPLATE, "reminder_lead_h": 24.0,
        "reminder_attempts": 3, "reminder_retry_s": 60.0, "reminder_poll_s": 0.0})


@pytest.fixture
def make_platform(settings: Settings, clock: Clock) -> Iterator[Callable[[], WeChatPlatform]]:
    built: list[WeChatPlatform] = []

    def make() -> WeChatPlatform:
        built.append(build_platform(settings, clock=clock, timing=TIMING))
        return built[-1]

    yield make
    for platform in built:
        platform.close()


@pytest.fixture
def who(settings: Settings) -> str:
    """The customer's pseudonym (what every row keeps instead of the openid)."""
    return customer_hash(OPENID, settings.customer_hash_key)


@pytest.fixture
def give_coupon(services: Any) -> Callable[..., int]:
    """A claimed coupon for `customer` expiring at `expires_at`; returns its id."""
    promotion: list[int] = []

    def give(customer: str, expires_at: datetime, title: str = "拿铁第二杯半价") -> int:
        with services.sessions.begin() as session:
            if not promotion:
                promotion.append(make_promotion(session, title=title).id)
            n = session.scalar(sa.select(sa.func.count()).select_from(Coupon)) or 0
            coupon = Coupon(code=f"CODE{n:06d}", promotion_id=promotion[0],
                            customer_hash=customer, claim_no=n + 1, claimed_at=T0,
                            expires_at=expires_at)
            session.add(coupon)
            session.flush()
            return coupon.id

    return give


@pytest.fixture
def push(client: Any) -> Callable[..., None]:
    """Deliver one event as WeChat does (signed, AES-encrypted) and check it got `success`."""
    created = iter(range(1_790_000_000, 1_800_000_000))

    def send(event: str, *args: Any, openid: str = OPENID) -> None:
        xml = event_xml(event, *args, from_user=openid, create_time=next(created))
        query, body = build_request(xml, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
        response = client.post("/wechat", params=query, content=body)
        assert response.status_code == 200, response.text
        assert response.text == "success"

    return send


def reminders(services: Any) -> list[CouponReminder]:
    with services.sessions() as session:
        return list(session.scalars(sa.select(CouponReminder).order_by(CouponReminder.id)))


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
