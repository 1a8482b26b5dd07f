"""Abuse limits through the app: guessed staff tokens per address, coupon tries per staff
member, H5 claims per customer and per address, typed searches per WeChat customer. In this
process's memory without Redis; with Redis, shared by every worker (two apps here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from o2o.config import Settings
from o2o.coupons.models import Coupon
from o2o.customers.links import coupon_page_url
from o2o.metrics import RATE_LIMITED
from o2o.services import Services, build_services
from o2o.wechat.handlers.text import TOO_MANY_SEARCHES
from o2o.wechat.simulator import build_request, decode_reply, text_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet
from tests.factories_loop import a_customer, make_coupon_promotion
from tests.factories_staff import bearer, make_token

SMALL = {"limit_token_failures_per_ip": "3/600", "limit_coupon_tries_per_staff": "2/600",
         "limit_claims_per_customer": "1/3600", "limit_claims_per_ip": "2/3600",
         "limit_searches_per_customer": "2/600"}
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["memory", "redis"])
def workers(request: pytest.FixtureRequest, settings: Settings) -> Iterator[list[Services]]:
    """Two workers' services on one database: sharing nothing but Redis (when there)."""
    update: dict[str, Any] = dict(SMALL)
    if request.param == "redis":
        update["redis_url"] = request.getfixturevalue("redis_url")
    limited = settings.model_copy(update=update)
    built = [build_services(limited, migrate=False, load_demo=False, sync=False)
             for _ in range(2)]
    yield built
    for services in built:
        services.close()


def _client(services: Services, address: str) -> TestClient:
    return TestClient(create_app(services.settings, services=services), client=(address, 5000))


def _address() -> str:
    """A fresh client address per test: Redis windows of other runs stay apart."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250 + 1}"


def _refused(r: Any) -> None:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 3600


def _count(name: str) -> float:
    return RATE_LIMITED.labels(name)._value.get()


def test_guessed_tokens_block_the_address(workers: list[Services]) -> None:
    one, two = workers
    with one.sessions() as session:
        good = make_token(session, "admin")
        session.commit()
    address, before = _address(), _count("token-failures-ip")
    with _client(one, address) as first, _client(two, address) as second:
        assert first.get("/api/v1/me", headers=bearer("o2o_guess1")).status_code == 401
        assert first.get("/api/v1/me").status_code == 401  # no token guesses nothing
        assert first.get("/api/v1/me", headers=bearer("o2o_guess2")).status_code == 401
        assert first.get("/api/v1/me", headers=bearer(good)).status_code == 200
        shared = one.redis is not None
        other = second if shared else first  # through Redis the other worker knows
        assert other.get("/api/v1/me", headers=bearer("o2o_guess3")).status_code == 401
        r = other.get("/api/v1/me", headers=bearer(good))  # even a good token, now
        _refused(r)
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.json()["error"]["request_id"] == r.headers["X-Request-ID"]
        if not shared:  # without Redis each worker counts alone
            assert second.get("/api/v1/me", headers=bearer(good)).status_code == 200
    with _client(one, _address()) as elsewhere:  # another address is not affected
        assert elsewhere.get("/api/v1/me", headers=bearer(good)).status_code == 200
    assert _count("token-failures-ip") >= before + 1


def test_coupon_tries_are_limited_per_staff_member(workers: list[Services]) -> None:
    one, two = workers
    with one.sessions() as session:
        outlet = make_outlet(session)
        clerk = make_token(session, "staff", outlets=[outlet])
        colleague = make_token(session, "staff", outlets=[outlet])
        session.commit()
    with _client(one, _address()) as first, _client(two, _address()) as second:
        assert first.get("/api/v1/coupons/AAAAA-BBBBB", headers=bearer(clerk)).status_code == 404
        nxt = second if one.redis is not None else first
        r = nxt.post("/api/v1/coupons/redeem", json={"code": "AAAAA-CCCCC"},
                     headers=bearer(clerk))
        assert r.status_code == 404
        r = nxt.get("/api/v1/coupons/AAAAA-DDDDD", headers=bearer(clerk))
        _refused(r)
        assert r.json()["error"]["details"]["retry_after_s"] == int(r.headers["Retry-After"])
        r = nxt.get("/api/v1/coupons/AAAAA-DDDDD", headers=bearer(colleague))
        assert r.status_code == 404  # another staff member has their own allowance


def test_claims_are_limited_per_customer_and_per_address(workers: list[Services]) -> None:
    services = workers[0]
    with services.sessions() as session:
        outlet = make_outlet(session)
        promos = [make_coupon_promotion(session, outlets=[outlet]).id for _ in range(2)]
        session.commit()
    services.catalog.refresh()

    def url(who: str, promo: int) -> str:
        return coupon_page_url(services.settings, query_id="q" * 32, customer_hash=who,
                               promotion_id=promo, outlet_id=outlet.id)

    hoarder, others = a_customer(), [a_customer(), a_customer()]
    with _client(services, _address()) as phone:
        assert phone.post(url(hoarder, promos[0]), follow_redirects=False).status_code == 303
        r = phone.post(url(hoarder, promos[1]), follow_redirects=False)
        _refused(r)  # one claim per customer per hour here
        assert r.headers["content-type"].startswith("text/html") and "操作太频繁" in r.text
        assert phone.post(url(others[0], promos[0]), follow_redirects=False).status_code == 303
        _refused(phone.post(url(others[1], promos[0]), follow_redirects=False))  # 2 per address
    with services.sessions() as session:  # the refused claims wrote nothing
        assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 2


def _search(client: TestClient, openid: str, msg_id: int) -> str:
    query, body = build_request(text_xml("上海", from_user=openid, msg_id=msg_id),
                                token="test-token", aes_key=TEST_AES_KEY,
                                appid="wxtestappid0001")
    r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200, r.text
    return decode_reply(r.content, token="test-token", aes_key=TEST_AES_KEY,
                        appid="wxtestappid0001", encrypted=True).text


def test_typed_searches_are_limited_per_customer_with_a_polite_reply(
        workers: list[Services]) -> None:
    one, two = workers
    with one.sessions() as session:
        make_outlet(session, name="人民广场店")
        session.commit()
    for services in workers:
        services.catalog.refresh()
    openid, before = f"o{uuid.uuid4().hex}", _count("searches-customer")
    base = uuid.uuid4().int % 10**12
    with _client(one, _address()) as first, _client(two, _address()) as second:
        assert "人民广场店" in _search(first, openid, base + 1)
        nxt = second if one.redis is not None else first
        assert "人民广场店" in _search(nxt, openid, base + 2)
        assert _search(nxt, openid, base + 3) == TOO_MANY_SEARCHES
        assert "人民广场店" in _search(nxt, f"o{uuid.uuid4().hex}", base + 4)  # someone else
    assert _count("searches-customer") == before + 1
