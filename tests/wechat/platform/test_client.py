"""The WeChat API client over real HTTP against the stand-in: calls, errcodes, retries."""

from __future__ import annotations

import logging

import pytest

from o2o.wechat.platform import PlatformUnavailable, WeChatPlatform
from o2o.wechat.platform.client import PlatformClient
from o2o.wechat.platform.errors import (
    CredentialsRefused,
    OAuthCodeRefused,
    RecipientRefused,
    RequestRefused,
)
from o2o.wechat.platform.standin import StandIn

from .conftest import SECRET, TEMPLATE, Clock

MENU = {"button": [{"type": "location_select", "name": "附近门店", "key": "NEARBY_SELECT"}]}


def test_token_ticket_and_menu(platform: WeChatPlatform, standin: StandIn) -> None:
    token = platform.access_token()
    assert len(token) == standin.token_length
    assert platform.jsapi_ticket().startswith("standin_ticket_")
    platform.create_menu(MENU)
    assert standin.menus == [MENU]
    (first,) = [c for c in standin.calls if c.api == "stable_token"]
    assert first.body == {"grant_type": "client_credential", "appid": standin.appid,
                          "secret": SECRET, "force_refresh": False}
    assert [c.params.get("access_token") for c in standin.calls[1:]] == [token, token]


def test_wrong_secret_is_a_configuration_error(make_platform, standin: StandIn) -> None:
    platform = make_platform(wechat_secret="not-the-secret")
    with pytest.raises(CredentialsRefused) as caught:
        platform.access_token()
    assert caught.value.errcode == 40125
    assert "stable_token" in caught.value.message and "40125" in caught.value.message
    assert standin.count("stable_token") == 1  # not retried: it cannot get better


def test_oauth_code_is_exchanged_once(platform: WeChatPlatform, standin: StandIn,
                                      clock: Clock) -> None:
    code = standin.issue_code("o_customer_1")
    identity = platform.exchange_code(code)
    assert (identity.openid, identity.scope) == ("o_customer_1", "snsapi_base")
    with pytest.raises(OAuthCodeRefused) as reused:
        platform.exchange_code(code)
    assert reused.value.errcode == 40163
    with pytest.raises(OAuthCodeRefused) as forged:
        platform.exchange_code("forged-code")
    assert forged.value.errcode == 40029
    stale = standin.issue_code("o_customer_1")
    clock.advance(301)  # codes live 5 minutes
    with pytest.raises(OAuthCodeRefused) as expired:
        platform.exchange_code(stale)
    assert expired.value.errcode == 40029


def test_subscribe_message_needs_one_consent_per_message(platform: WeChatPlatform,
                                                         standin: StandIn) -> None:
    send = {"template_id": TEMPLATE, "scene": "1000", "title": "优惠券即将到期",
            "content": "您的第二杯半价券明天到期", "url": "https://example.com/c/1"}
    with pytest.raises(RecipientRefused) as unknown:
        platform.send_subscribe(openid="o_nobody", **send)
    assert unknown.value.errcode == 40003
    standin.add_user("o_customer_1")
    with pytest.raises(RecipientRefused) as refused:
        platform.send_subscribe(openid="o_customer_1", **send)
    assert refused.value.errcode == 43101
    standin.consent("o_customer_1", TEMPLATE, "1000")
    platform.send_subscribe(openid="o_customer_1", **send)
    (message,) = standin.messages
    assert message == {"touser": "o_customer_1", "template_id": TEMPLATE, "scene": "1000",
                       "title": send["title"], "url": send["url"],
                       "data": {"content": {"value": send["content"]}}}
    with pytest.raises(RecipientRefused):  # the consent is spent
        platform.send_subscribe(openid="o_customer_1", **send)
    with pytest.raises(RequestRefused) as too_long:
        standin.consent("o_customer_1", TEMPLATE, "1000")
        platform.send_subscribe(openid="o_customer_1", **{**send, "title": "标" * 16})
    assert too_long.value.errcode == 47001


def test_bad_menu_is_refused_with_wechats_code(platform: WeChatPlatform) -> None:
    with pytest.raises(RequestRefused) as caught:
        platform.create_menu({"button": [{"type": "click", "name": "x" * 17, "key": "K"}]})
    assert caught.value.errcode == 40018 and "menu/create" in caught.value.message


def test_system_busy_is_retried_with_backoff(platform: WeChatPlatform, standin: StandIn,
                                             caplog: pytest.LogCaptureFixture) -> None:
    standin.fail("busy", times=2)
    with caplog.at_level(logging.WARNING, "o2o.wechat.platform"):
        assert platform.access_token()
    assert [c.errcode for c in standin.calls] == [-1, -1, 0]
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert [m.split("retry ")[1] for m in retries] == ["1 of 2 in 0.25 s", "2 of 2 in 0.50 s"]


def test_system_busy_retries_are_bounded(platform: WeChatPlatform, standin: StandIn) -> None:
    standin.fail("busy")
    with pytest.raises(PlatformUnavailable) as caught:
        platform.access_token()
    assert caught.value.errcode == -1
    assert standin.count("stable_token") == 3  # the call and two retries, then a clear error
    assert platform.status()["last_error"]["errcode"] == -1


def test_wechat_down_is_a_clear_error_without_the_token(platform: WeChatPlatform,
                                                        standin: StandIn) -> None:
    token = platform.access_token()
    standin.fail("down")
    with pytest.raises(PlatformUnavailable) as caught:
        platform.create_menu(MENU)
    message = caught.value.message
    assert message.startswith("WeChat API menu/create failed (") and "talking to WeChat" in message
    assert token not in message and token not in repr(caught.value.__dict__)
    assert standin.count("menu/create") == 3


def test_a_send_that_may_have_arrived_is_not_repeated(platform: WeChatPlatform,
                                                      standin: StandIn) -> None:
    standin.consent("o_customer_1", TEMPLATE, "1000")
    platform.access_token()
    standin.fail("down")  # the request reached WeChat, the answer never came
    with pytest.raises(PlatformUnavailable):
        platform.send_subscribe(openid="o_customer_1", template_id=TEMPLATE, scene="1000",
                                title="提醒", content="明天到期")
    assert standin.count("message/template/subscribe") == 1


def test_unreachable_wechat_is_retried_then_reported() -> None:
    client = PlatformClient(appid="wx", secret="s", base_url="http://127.0.0.1:9",
                            retries=1, backoff_s=0.01)
    with pytest.raises(PlatformUnavailable) as caught:
        client.stable_token()
    assert "ConnectError" in caught.value.message
    client.close()


def test_an_answer_without_the_token_is_an_error(platform: WeChatPlatform,
                                                 standin: StandIn) -> None:
    standin.fail("empty", times=1)
    with pytest.raises(PlatformUnavailable, match="lacks access_token, expires_in"):
        platform.access_token()
    assert platform.status()["access_token"] is None
