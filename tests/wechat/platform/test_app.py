"""Through the app: /healthz reports the shared token and the last WeChat API error (never
the token), and with WeChat's API down the /wechat replies do not notice."""

from __future__ import annotations

import pytest

from o2o.config import Settings
from o2o.geo.datum import Datum, from_wgs84
from o2o.wechat.platform import PlatformUnavailable, platform_of
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet

from .conftest import SECRET, Clock

TOKEN, APPID = "test-token", "wxtestappid0001"


@pytest.fixture
def standin(clock: Clock) -> StandIn:
    """The app's own Official Account (its pushes are encrypted for this appid)."""
    return StandIn(appid=APPID, secret=SECRET, clock=clock)


@pytest.fixture
def settings(settings: Settings, standin_url: str) -> Settings:
    return settings.model_copy(update={"wechat_api_base": standin_url, "wechat_secret": SECRET,
                                       "wechat_api_retries": 1})


def test_healthz_shows_token_age_and_last_error_never_the_token(client, services,
                                                                standin: StandIn) -> None:
    before = client.get("/healthz").json()["wechat_api"]
    assert before == {"access_token": None, "jsapi_ticket": None, "last_error": None}
    platform = platform_of(services)
    token = platform.access_token()
    standin.fail("down")
    with pytest.raises(PlatformUnavailable):
        platform.jsapi_ticket()
    calls = len(standin.calls)

    response = client.get("/healthz")
    assert response.status_code == 200  # WeChat's API down degrades no reply
    report = response.json()["wechat_api"]
    assert 0 <= report["access_token"]["age_s"] < 60
    assert report["access_token"]["expires_in_s"] > 7000
    assert report["jsapi_ticket"] is None
    error = report["last_error"]
    assert (error["call"], error["errcode"]) == ("getticket", None)
    assert "talking to WeChat" in error["errmsg"] and error["age_s"] >= 0
    assert token not in response.text
    assert len(standin.calls) == calls  # /healthz itself never calls WeChat


def test_wechat_replies_do_not_depend_on_wechats_api(client, services,
                                                     standin: StandIn) -> None:
    with services.sessions.begin() as session:
        make_outlet(session, lat=31.2310, lng=121.4740, code="A", name="人民广场店")
    services.catalog.load()
    standin.fail("down")
    here = from_wgs84(31.2304, 121.4737, Datum.GCJ02)
    query, body = build_request(location_xml(*here, from_user="o_customer", msg_id=42),
                                token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
    response = client.post("/wechat", params=query, content=body)
    assert response.status_code == 200
    reply = decode_reply(response.content, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID,
                         encrypted=True)
    assert reply.kind == "news" and "人民广场店" in reply.articles[0]["title"]
    assert standin.calls == []  # nothing on the reply path talks to WeChat
