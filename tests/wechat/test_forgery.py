"""The review's attack on POST /wechat: keep `signature`, `timestamp` and `nonce` of one real
push (a proxy logged its URL) and post another customer's message under them. Refused with
an AES key configured (plain pushes are), and with plain pushes allowed for a migration (the
(timestamp, nonce) is bound to its first message); WeChat's own retry is still answered."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from o2o.analytics.models import Event
from o2o.customers.models import Customer
from o2o.geo.datum import Datum, from_wgs84
from o2o.metrics import WECHAT_REJECTED
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet

TOKEN, APPID = "test-token", "wxtestappid0001"
VICTIM, ATTACKER = "oVICTIM_real_customer", "oATTACKER_invented_1"
HERE = from_wgs84(31.2304, 121.4737, Datum.GCJ02)
PLAIN_ALLOWED = pytest.mark.parametrize("settings", [True], indirect=True, ids=["accept_plaintext"])


@pytest.fixture
def shop(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        make_outlet(s, lat=31.2310, lng=121.4740, code="A", name="人民广场店")
    services.catalog.load()
    return services


def real_push(client: TestClient, *, encrypted: bool) -> tuple[dict[str, str], bytes]:
    """A push as WeChat sends it, answered; returns its query and body (what a proxy saw)."""
    aes = TEST_AES_KEY if encrypted else None
    query, body = build_request(location_xml(*HERE, from_user=VICTIM), token=TOKEN,
                                aes_key=aes, appid=APPID)
    r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200, r.text
    assert decode_reply(r.content, token=TOKEN, aes_key=aes, appid=APPID,
                        encrypted=encrypted).kind == "news"
    return query, body


def forge(client: TestClient, captured: dict[str, str], *, openid: str = ATTACKER):  # type: ignore[no-untyped-def]
    """The attacker's request: the captured plain signature, another customer's plain body."""
    query = {k: captured[k] for k in ("signature", "timestamp", "nonce")} | {"openid": openid}
    body = location_xml(*HERE, from_user=ATTACKER, msg_id=secrets.randbits(62))
    return client.post("/wechat", params=query, content=body.encode())


def stored(services) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        return (s.scalar(sa.select(sa.func.count()).select_from(Event)) or 0,
                s.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0)


def refused(response, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == code
    assert "<xml" not in response.text and "/r/" not in response.text  # no reply, no links


def test_with_an_aes_key_a_plain_push_is_refused(client, shop) -> None:
    captured, _ = real_push(client, encrypted=True)
    before = stored(shop)
    refused(forge(client, captured), "wechat_plaintext_refused")
    # Even a correctly signed plain push of the victim's own: plain is off, not just forgery.
    query, body = build_request(location_xml(*HERE, from_user=VICTIM), token=TOKEN)
    refused(client.post("/wechat", params=query, content=body), "wechat_plaintext_refused")
    assert stored(shop) == before


@PLAIN_ALLOWED
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "safe"])
def test_plaintext_allowed_a_captured_url_carries_no_other_body(client, shop, encrypted) -> None:
    captured, _ = real_push(client, encrypted=encrypted)
    before = stored(shop)
    counted = WECHAT_REJECTED.labels("wechat_nonce_reused")._value.get()
    refused(forge(client, captured), "wechat_nonce_reused")
    assert WECHAT_REJECTED.labels("wechat_nonce_reused")._value.get() == counted + 1
    assert stored(shop) == before


@PLAIN_ALLOWED
def test_wechat_retry_under_the_same_url_gets_the_same_reply(client, shop) -> None:
    query, body = real_push(client, encrypted=False)
    first_rows = stored(shop)
    again = client.post("/wechat", params=query, content=body)
    assert again.status_code == 200
    assert client.post("/wechat", params=query, content=body).content == again.content
    assert stored(shop) == first_rows  # counted once


@pytest.mark.parametrize("settings", [False, True], indirect=True,
                         ids=["encrypted_only", "accept_plaintext"])
def test_the_url_openid_must_be_the_sender(client, shop, settings) -> None:
    """WeChat names the sender in the URL; a message from anyone else is refused, even signed."""
    aes = None if settings.wechat_accept_plaintext else TEST_AES_KEY
    query, body = build_request(location_xml(*HERE, from_user=ATTACKER), token=TOKEN,
                                aes_key=aes, appid=APPID, openid=VICTIM)
    refused(client.post("/wechat", params=query, content=body), "wechat_openid_mismatch")
    assert stored(shop) == (0, 0)
    del query["openid"]  # absent (not every push URL has it): nothing to compare
    assert client.post("/wechat", params=query, content=body).status_code == 200


# -- across workers: the binding lives in Redis ------------------------------------------------


@pytest.fixture
def two_workers(settings, redis_url, shop) -> Iterator[tuple[TestClient, TestClient]]:  # type: ignore[no-untyped-def]
    """Two app processes' worth of services on one database and one Redis."""
    from api.app import create_app
    from o2o.services import build_services

    with_redis = settings.model_copy(update={"redis_url": redis_url})
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            worker = build_services(with_redis, migrate=False, load_demo=False, sync=False)
            stack.callback(worker.close)
            clients.append(stack.enter_context(TestClient(create_app(worker.settings,
                                                                     services=worker))))
        yield clients[0], clients[1]


@pytest.mark.redis
@PLAIN_ALLOWED
def test_the_binding_holds_across_workers(two_workers, shop) -> None:
    first, second = two_workers
    captured, body = real_push(first, encrypted=False)
    before = stored(shop)
    refused(forge(second, captured), "wechat_nonce_reused")
    assert stored(shop) == before
    retry = second.post("/wechat", params=captured, content=body)  # WeChat retries elsewhere
    assert retry.status_code == 200 and decode_reply(retry.content, token=TOKEN).kind == "news"
    assert stored(shop) == before
