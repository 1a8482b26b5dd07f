"""POST /wechat is answered by WeChatPushes before the router: the same replies, refusals,
request ids, access log and latency metric as the router's entry gives, which still answers
when the app runs without the middleware."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.wechat import WeChatPushes
from o2o.metrics import REQUEST_LATENCY
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet, make_region
from tests.wechat.test_endpoint import APPID, HERE, OPENID, TOKEN, events


@pytest.fixture
def chain(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        region = make_region(s, code="SH")
        make_outlet(s, region=region, code="A", name="人民广场店", lat=31.2310, lng=121.4740)
    services.catalog.load()


def _app(services: Any, *, fast: bool) -> Any:
    app = create_app(services.settings, services=services)
    if not fast:  # before the first request builds the middleware stack
        app.user_middleware = [m for m in app.user_middleware if m.cls is not WeChatPushes]
    return app


def _latency_count(status: str) -> float:
    for metric in REQUEST_LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {
                    "method": "POST", "route": "/wechat", "status": status}:
                return sample.value
    return 0.0


@pytest.mark.parametrize("fast", [True, False], ids=["middleware", "router"])
def test_a_push_is_answered_logged_and_timed_under_the_route_template(
        services, chain, caplog, fast) -> None:
    before = _latency_count("200")
    query, body = build_request(location_xml(*HERE, from_user=OPENID, msg_id=7001),
                                token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
    with caplog.at_level(logging.INFO, logger="o2o.access"), \
            TestClient(_app(services, fast=fast)) as client:
        r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    reply = decode_reply(r.content, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID,
                         encrypted=True)
    assert reply.kind == "news" and "人民广场店" in reply.articles[0]["title"]
    assert [e.type for e in events(services)] == ["query"]  # committed before the reply
    assert _latency_count("200") == before + 1
    line = next(rec.getMessage() for rec in caplog.records if rec.name == "o2o.access")
    assert line.startswith("POST /wechat 200 ")


@pytest.mark.parametrize("fast", [True, False], ids=["middleware", "router"])
def test_a_refused_push_gets_the_error_envelope_with_its_request_id(
        services, chain, fast) -> None:
    query, body = build_request(location_xml(*HERE, from_user=OPENID, msg_id=7002),
                                token="not-the-token", aes_key=TEST_AES_KEY, appid=APPID)
    with TestClient(_app(services, fast=fast)) as client:
        r = client.post("/wechat", params=query, content=body)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "wechat_bad_signature"
    assert error["request_id"] == r.headers["X-Request-ID"]
    assert events(services) == []


def test_a_client_gone_before_its_body_ends_gets_no_answer_and_writes_nothing(
        services, chain) -> None:
    query, body = build_request(location_xml(*HERE, from_user=OPENID, msg_id=7003),
                                token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
    messages = [{"type": "http.request", "body": body[:10], "more_body": True},
                {"type": "http.disconnect"}]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/wechat", "raw_path": b"/wechat",
             "query_string": urlencode(query).encode(),
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
             "headers": [(b"content-type", b"text/xml")]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(_app(services, fast=True)(scope, receive, send))
    assert sent == [] and events(services) == []
