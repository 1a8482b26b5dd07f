"""/healthz tells a load balancer "up or not" and nothing else; /metrics is for operators."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from o2o.config import Settings
from o2o.metrics import may_read_metrics


def test_health_says_only_whether_each_dependency_is_fit(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("status", "checks")} == {
        "status": "ok", "checks": {"database": {"ok": True}, "index": {"ok": True}}}
    # Besides the checks only the WeChat API token's age and last error (issue 15), which
    # never fail the probe: no counts, no versions, no token.
    assert set(body) == {"status", "checks", "wechat_api"}
    assert body["wechat_api"] == {"access_token": None, "jsapi_ticket": None,
                                  "last_error": None}


@pytest.fixture
def app_with(services):  # type: ignore[no-untyped-def]
    """The app over the test services with some settings changed."""
    def make(**changes: object):  # type: ignore[no-untyped-def]
        services.settings = services.settings.model_copy(update=changes)
        return create_app(services.settings, services=services)
    return make


def test_metrics_are_refused_to_the_public(client) -> None:
    r = client.get("/metrics")  # TestClient's address is no IP on any allow-list
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert "o2o_" not in r.text
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 403


def test_metrics_with_the_configured_token(app_with) -> None:
    with TestClient(app_with(metrics_token="m-0123456789abcdef")) as c:
        r = c.get("/metrics", headers={"Authorization": "Bearer m-0123456789abcdef"})
        assert r.status_code == 200 and "o2o_http_request_seconds" in r.text
        wrong = c.get("/metrics", headers={"Authorization": "Bearer m-0123456789abcdeX"})
        assert wrong.status_code == 403


@pytest.mark.parametrize(("allow", "client", "status"), [
    ("127.0.0.1,::1", "127.0.0.1", 200),  # the default: this machine
    ("127.0.0.1,::1", "10.1.2.3", 403),
    ("10.0.0.0/8", "10.1.2.3", 200),
    ("", "127.0.0.1", 403),  # empty: by token only
])
def test_metrics_by_client_address(app_with, allow, client, status) -> None:
    with TestClient(app_with(metrics_allow=allow), client=(client, 40000)) as c:
        assert c.get("/metrics").status_code == status


def test_mapped_ipv6_loopback_counts_as_loopback() -> None:
    s = Settings()
    assert may_read_metrics(s, client="::ffff:127.0.0.1", token=None)
    assert not may_read_metrics(s, client="::ffff:10.0.0.1", token=None)
    assert not may_read_metrics(s, client=None, token="")  # no token configured: none works


def test_a_bad_allow_list_stops_the_start() -> None:
    with pytest.raises(ValueError, match="O2O_METRICS_ALLOW: 'intranet'"):
        Settings(metrics_allow="10.0.0.0/8, intranet")
